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
    public func trigger(user: String, pin: String?) throws -> TriggerOutcome {
        let hasher = CodeHasher(key: try store.codeKey())
        let now = clock.now()
        var code = ""
        let outcome: TriggerOutcome = try store.update(user: user) { record in
            guard var r = record else {
                if let pin = pin { PINHash.dummyVerify(pin) }
                return .noToken
            }
            defer { record = r }
            r.refresh(now: now, config: config)
            guard r.enabled else { return .disabled }
            guard !r.isLocked else { return .locked }
            if let pin = pin {
                guard let hash = r.pinHash else { return .noPIN }
                guard PINHash.verify(pin, hash: hash) else {
                    r.registerFailure(now: now, config: config)
                    return .wrongPIN
                }
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
            let mail = try MailComposer(config: config, random: random).compose(
                CodeMailContext(user: user, address: email, code: code, transactionID: challenge.transactionID,
                                service: context.service, rhost: context.rhost, host: context.host,
                                created: challenge.created, expires: challenge.expires),
                date: now)
            try mailer.send(mail)
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
        let now = clock.now()
        return try store.update(user: user) { record in
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
            guard r.enabled else { return .disabled }
            guard !r.isLocked else { return .locked }
            if let pin = pin {
                guard let hash = r.pinHash else { return .noPIN }
                guard PINHash.verify(pin, hash: hash) else {
                    r.registerFailure(now: now, config: config)
                    return .wrongPIN
                }
            }
            if targets.isEmpty { return .noChallenge }
            let open = targets.filter { !$0.isExpired(at: now) }
            if open.isEmpty { return .expired }
            let wellFormed = code.utf8.count == config.otpLength && code.isASCIIDigits
            var match: Challenge? = nil
            for candidate in open where hasher.matches(code: code, challenge: candidate, user: user) && wellFormed {
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

    func log(_ level: LogLevel, _ user: String, _ message: String) {
        let service = context.service.isEmpty ? "" : " service=\(context.service)"
        let rhost = context.rhost.isEmpty ? "" : " rhost=\(context.rhost)"
        logger.log(level, "user \(ConfigKeys.printable(user))\(service)\(rhost): \(message)")
    }

    func shown(_ email: String) -> String {
        config.maskAddress ? EmailAddress.masked(email) : email
    }
}
