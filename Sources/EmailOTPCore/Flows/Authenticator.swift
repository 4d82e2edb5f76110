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

/// What a check of an answer ends with (`verify`, and the PIN refusals of `trigger`).
public enum VerifyOutcome: Equatable {
    case granted, expired, noChallenge, locked, disabled, noToken, wrongPIN, noPIN
    case wrong(triesLeft: Int)
    /// Granted by a recovery code (single use, see pam_emailotp(8)); `left` codes remain.
    case recovered(left: Int)
}

/// What opening a challenge ends with (`trigger`).
public enum TriggerOutcome: Equatable {
    /// The PIN was refused (`TokenRecord.checkPIN`): `.wrongPIN`, and the refusals that answer
    /// like it — `.noToken`, `.disabled`, `.locked`, `.noPIN`. The cases shared with a code's
    /// check, written once.
    case refused(VerifyOutcome)
    case rateLimited
    case sent(Challenge, email: String)
    case reused(Challenge, email: String)
    /// A right PIN (or none with pin=none) from a remembered remote host: granted, no code.
    case remembered
}

/// The ports of a login (configuration, store, clock, randomness, mailer, log, request) and the
/// store steps both flows (`InteractiveFlow`, `ChallengeFlow`) are made of — open a challenge
/// (`trigger`: `attempt`, then `deliver`), check a code (`verify`) — each one read-modify-write
/// of the user's record under the store's lock.
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
    /// Where `groups` memberships are looked up (tests replace it).
    public var groups: GroupDirectory = SystemGroups()

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
    /// `DeliveryFailure` is thrown. The PIN is compared only once its failure is charged (`attempt`).
    /// - Parameters:
    ///   - deferMiss: a wrong `pin` is counted but does not lock yet: it is a stacked password
    ///     tried as the PIN, and the caller gets it back when the PIN typed next is right.
    ///   - pendingMisses: earlier deferred misses, refunded when `pin` is right.
    ///   - finish: how the mail tells the user to finish the login (challenge mode).
    ///   - remembered: a remembered remote host is granted (`.remembered`) without a code.
    ///   - enrolling: the challenge of a pending enrolment (Enrolment.swift).
    public func trigger(user: String, pin: String?, deferMiss: Bool = false, pendingMisses: Int = 0,
                        finish: String = "", remembered: Bool = false, enrolling: Enrolling? = nil) throws -> TriggerOutcome {
        let (outcome, code) = try attempt(user: user, .pin(pin), deferMiss: deferMiss, refunds: pendingMisses,
                                          remembered: remembered, enrolling: enrolling)
        guard case .trigger(let opened) = outcome else { return .refused(.wrongPIN) }
        return try deliver(opened, user: user, code: code, finish: finish)
    }

    /// Mails the code of a challenge `attempt` opened and makes it answerable; any other
    /// outcome is returned as it is.
    func deliver(_ outcome: TriggerOutcome, user: String, code: String, finish: String) throws -> TriggerOutcome {
        guard case .sent(var challenge, let stored) = outcome else { return outcome }
        var email = stored
        do {
            if email.isEmpty { email = try AddressCommand(config: config).address(for: user) }
            var content = CodeMailContext(user: user, address: email, code: code, transactionID: challenge.transactionID,
                                          service: context.service, rhost: context.rhost, host: context.host,
                                          created: challenge.created, expires: challenge.expires)
            content.finish = finish
            content.firstFactor = pinMode == .token ? "your PIN" : "your password or key"
            try sendCodeMail(content)
        } catch {
            // Should this write fail too, the challenge stays unanswerable and expires.
            try? store.withdraw(challenge, user: user)
            throw DeliveryFailure(reason: "\(error)")
        }
        let tries = config.otpTries
        try store.arm(challenge, user: user, tries: tries)
        challenge.triesLeft = tries
        return .sent(challenge, email: email)
    }

    /// The trigger step's outcome as the flows go on from it: the challenge opened (or
    /// re-used), whose code the flow asks for or tells of, or the end of the login — granted
    /// from a remembered host, or refused (logged here; the flow shows it). With `deferMiss` (a
    /// stacked password tried as the PIN) a PIN refusal is a `DeferredMiss`: logged only, nothing
    /// shown, no alert due — the prompt that follows decides, and a lock waits for it.
    func triggered(_ outcome: TriggerOutcome, user: String, deferMiss: Bool) -> Triggered {
        switch outcome {
        case .sent(let challenge, let email):
            return .opened(OpenedChallenge(challenge: challenge, email: email, sent: true))
        case .reused(let challenge, let email):
            return .opened(OpenedChallenge(challenge: challenge, email: email, sent: false))
        case .remembered:
            logRememberedGrant(user: user, trustedNetwork: fromTrustedNetwork)
            return .ended(FlowResult(status: .success))
        case .refused(let pinRefusal) where deferMiss:
            var result = FlowResult(logged(refusal(outcome) ?? Refusal(result: .authError, message: ""), user: user))
            result.alertDue = false
            result.deferredMiss = DeferredMiss(counted: pinRefusal == .wrongPIN)
            return .ended(result)
        case .refused, .rateLimited:
            return .ended(FlowResult(logged(refusal(outcome) ?? Refusal(result: .authError, message: ""), user: user)))
        }
    }

    /// Checks `code` against the challenge `transactionID`, or when nil against the open
    /// challenges (any of them with concurrent challenges, else the newest). Checks `pin` first
    /// when it is not nil. A right code is good once; a wrong one costs a try and a failure,
    /// charged before the code is compared (`attempt`). With `enrolling`, a right code activates
    /// the pending enrolment (Enrolment.swift).
    public func verify(user: String, code: String, transactionID: String?, pin: String?,
                       enrolling: Enrolling? = nil) throws -> VerifyOutcome {
        let (outcome, _) = try attempt(user: user, .code(code, pin: pin, transactionID: transactionID), enrolling: enrolling)
        guard case .verify(let verified) = outcome else { return .wrongPIN }
        return verified
    }

    /// Every field the person logging in controls is quoted and escaped (LogText), so that
    /// no name or host can forge a line or a verdict.
    package func log(_ level: LogLevel, _ user: String, _ message: String) {
        context.log(logger, level, user, message)
    }

    /// Logs `refused` (its line, when it has one) and returns it.
    @discardableResult
    func logged(_ refused: Refusal, user: String) -> Refusal {
        if !refused.line.isEmpty { log(refused.level, user, refused.line) }
        return refused
    }

    func shown(_ email: String) -> String {
        config.maskAddress ? EmailAddress.masked(email) : email
    }
}

/// The store steps of a challenge's mail, each one transaction: `attempt` opens the challenge
/// with no tries left, `deliver` mails it and then arms it, or withdraws it when the mail failed.
extension TokenStore {
    /// Arms `challenge` after its mail went out: it may be answered `tries` times (`TokenRecord.arm`).
    func arm(_ challenge: Challenge, user: String, tries: Int) throws {
        try update(user: user) { record in record?.arm(challenge.transactionID, tries: tries) }
    }

    /// Withdraws `challenge`, whose mail could not be sent, and its mail from the hourly quota
    /// (`TokenRecord.withdraw`).
    func withdraw(_ challenge: Challenge, user: String) throws {
        try update(user: user) { record in record?.withdraw(challenge) }
    }
}
