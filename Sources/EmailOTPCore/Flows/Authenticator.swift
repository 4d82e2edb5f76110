import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPMail
import EmailOTPStore
import EmailOTPSystem
import EmailOTPToken

/// The mail could not be sent; the challenge has been dropped again.
public struct DeliveryFailure: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

public enum TriggerOutcome: Equatable {
    case noToken, disabled, locked, wrongPIN, noPIN, rateLimited
    case sent(Challenge, email: String)
    case reused(Challenge, email: String)
}

public enum VerifyOutcome: Equatable {
    case granted, expired, noChallenge, locked, disabled, noToken, wrongPIN, noPIN
    case wrong(triesLeft: Int)
    /// Granted by a recovery code (issue 12); `left` codes remain.
    case recovered(left: Int)
}

extension TriggerOutcome {
    /// A PIN refusal of `TokenRecord.checkPIN`.
    init(_ refused: VerifyOutcome) {
        switch refused {
        case .locked: self = .locked
        case .disabled: self = .disabled
        case .noPIN: self = .noPIN
        default: self = .wrongPIN
        }
    }
}

/// The two operations every flow is made of — open a challenge (and mail its code), check a
/// code — each one read-modify-write of the user's record under the store's lock.
public struct Authenticator {
    public let config: Config
    public let pinMode: PINMode
    public let store: TokenStore
    public let clock: Clock
    public let random: RandomSource
    public let mailer: Mailer
    public let logger: Logger
    public let context: RequestContext
    /// Where login names are canonicalised (tests replace it).
    public var accounts: AccountDirectory = SystemAccounts()

    public init(config: Config, pinMode: PINMode, store: TokenStore, clock: Clock, random: RandomSource,
                mailer: Mailer, logger: Logger, context: RequestContext) {
        self.config = config
        self.pinMode = pinMode
        self.store = store
        self.clock = clock
        self.random = random
        self.mailer = mailer
        self.logger = logger
        self.context = context
    }

    /// Checks `pin` (when not nil) and opens a challenge, or re-uses one younger than
    /// `resend_interval`; mails the new code. When the mail fails, the challenge is dropped and
    /// `DeliveryFailure` is thrown.
    /// - Parameters:
    ///   - deferMiss: a wrong `pin` is not counted here: it is a stacked password tried as the
    ///     PIN, and the caller counts it unless the PIN typed next is right.
    ///   - pendingMisses: earlier deferred misses, counted now unless `pin` is right.
    ///   - finish: how the mail tells the user to finish the login (challenge mode).
    public func trigger(user: String, pin: String?, deferMiss: Bool = false, pendingMisses: Int = 0,
                        finish: String = "") throws -> TriggerOutcome {
        let hasher = CodeHasher(key: try store.codeKey())
        var now: Int64 = 0
        var code = ""
        let outcome: TriggerOutcome = try store.update(user: user) { record, storeNow in
            now = storeNow
            guard var r = record else {
                if let pin = pin { PINHash.dummyVerify(pin) }
                return .noToken
            }
            defer { record = r }
            r.refresh(now: now, config: config)
            if let pin = pin {
                let misses = deferMiss ? pendingMisses : pendingMisses + 1
                if let refused = r.checkPIN(pin, now: now, config: config, misses: misses) { return TriggerOutcome(refused) }
            } else {
                guard r.enabled else { return .disabled }
                guard !r.isLocked else { return .locked }
            }
            if let newest = r.newestChallenge, config.resendInterval > 0, now - newest.created < config.resendInterval {
                return .reused(newest, email: r.email)
            }
            guard r.mails.count < config.maxMailsPerHour else { return .rateLimited }
            code = try random.digits(config.otpLength)
            let transactionID = try random.digits(20)
            // Written with no tries left: it cannot be answered until its mail has gone out.
            let challenge = Challenge(transactionID: transactionID,
                                      codeHash: try hasher.hash(code: code, transactionID: transactionID, user: user),
                                      created: now, expires: now + config.otpValidity, triesLeft: 0)
            r.open(challenge, config: config)
            r.mails.append(now)
            return .sent(challenge, email: r.email)
        }
        guard case .sent(var challenge, let stored) = outcome else { return outcome }
        var email = stored
        do {
            if email.isEmpty { email = try AddressCommand(config: config).address(for: user) }
            var content = CodeMailContext(user: user, address: email, code: code, transactionID: challenge.transactionID,
                                          service: context.service, rhost: context.rhost, host: context.host,
                                          created: challenge.created, expires: challenge.expires)
            content.finish = finish
            try sendCodeMail(content)
        } catch {
            // Should this write fail too, the challenge stays unanswerable and expires.
            try? store.update(user: user) { record in
                record?.challenges.removeAll { $0.transactionID == challenge.transactionID }
                if let index = record?.mails.lastIndex(of: now) { record?.mails.remove(at: index) }
            }
            throw DeliveryFailure(reason: "\(error)")
        }
        let tries = config.otpTries
        try store.update(user: user) { record in
            guard let index = record?.challenges.firstIndex(where: { $0.transactionID == challenge.transactionID }) else { return }
            record?.challenges[index].triesLeft = tries
        }
        challenge.triesLeft = tries
        return .sent(challenge, email: email)
    }

    /// Checks `code` against the challenge `transactionID`, or when nil against the open
    /// challenges (any of them with concurrent challenges, else the newest). Checks `pin` first
    /// when it is not nil. A right code is good once; a wrong one costs a try and a failure.
    public func verify(user: String, code: String, transactionID: String?, pin: String?) throws -> VerifyOutcome {
        let hasher = CodeHasher(key: try store.codeKey())
        return try store.update(user: user) { record, now in
            guard var r = record else {
                if let pin = pin { PINHash.dummyVerify(pin) }
                return .noToken
            }
            defer { record = r }
            // A challenge without tries left is void, or its mail has not gone out yet.
            var targets: [Challenge]
            if let id = transactionID {
                targets = r.challenges.filter { $0.transactionID == id }
            } else if config.concurrentChallenges {
                targets = r.challenges
            } else {
                targets = r.newestChallenge.map { [$0] } ?? []
            }
            targets.removeAll { $0.triesLeft <= 0 }
            r.refresh(now: now, config: config)
            if let pin = pin {
                if let refused = r.checkPIN(pin, now: now, config: config, misses: 1) { return refused }
            } else {
                guard r.enabled else { return .disabled }
                guard !r.isLocked else { return .locked }
            }
            // Issue 12: an answer shaped like a recovery code is checked against those instead.
            if let recovery = RecoveryCode.normalized(code) {
                return r.answerRecovery(recovery, open: targets.filter { !$0.isExpired(at: now) }, now: now, config: config)
            }
            if targets.isEmpty { return .noChallenge }
            let open = targets.filter { !$0.isExpired(at: now) }
            if open.isEmpty { return .expired }
            let wellFormed = code.utf8.count == config.otpLength && code.isASCIIDigits
            var match: Challenge? = nil
            for candidate in open where hasher.matches(code: code, transactionID: candidate.transactionID, user: user, storedHash: candidate.codeHash) && wellFormed {
                if match == nil { match = candidate }
            }
            if let granted = match {
                r.challenges.removeAll { $0.transactionID == granted.transactionID }
                r.registerSuccess()
                return .granted
            }
            r.registerFailure(now: now, config: config)
            var left = 0
            for candidate in open {
                guard let index = r.challenges.firstIndex(where: { $0.transactionID == candidate.transactionID }) else { continue }
                r.challenges[index].triesLeft -= 1
                left = max(left, r.challenges[index].triesLeft)
                if r.challenges[index].triesLeft <= 0 { r.challenges.remove(at: index) }
            }
            return .wrong(triesLeft: r.isLocked ? 0 : left)
        }
    }

    /// Every field the person logging in controls is quoted and escaped (LogText), so that
    /// no name or host can forge a line or a verdict.
    func log(_ level: LogLevel, _ user: String, _ message: String) {
        let service = context.service.isEmpty ? "" : " service=\(LogText.quoted(context.service))"
        let rhost = context.rhost.isEmpty ? "" : " rhost=\(LogText.quoted(context.rhost))"
        logger.log(level, "user=\(LogText.quoted(user))\(service)\(rhost): \(LogText.escaped(message))")
    }

    func shown(_ email: String) -> String {
        config.maskAddress ? EmailAddress.masked(email) : email
    }
}
