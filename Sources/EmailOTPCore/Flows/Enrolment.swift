import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPMail
import EmailOTPSystem
import EmailOTPToken

/// What a right code of a pending enrolment activates the token with: the PIN chosen during
/// the login (nil with pin=none, and for the attempt that opens the challenge).
public struct Enrolling: Equatable {
    public var pinHash: String?

    public init(pinHash: String? = nil) {
        self.pinHash = pinHash
    }
}

/// Enrolment at the first login (pam_emailotp(8), ENROLMENT AT THE FIRST LOGIN). A user with a
/// pending enrolment (made by root), or without a token under `enroll_at_login` when
/// `address_command` gives an address for them, is enrolled by a login: the code goes to that
/// address — never to one the person logging in typed —, a right code activates the token
/// with the PIN chosen during the login, and the login succeeds. Every answer goes through
/// `attempt` like any login's: charged before compared, counted, throttled and locked alike.
extension Authenticator {
    /// True when this login enrols `user`: the record is a pending enrolment, or there is no
    /// record, `enroll_at_login` is on and `address_command` gives the user an address.
    func enrolsAtLogin(user: String, existing: TokenRecord?) -> Bool {
        if let record = existing { return record.pending }
        guard config.enrollAtLogin, !config.addressCommand.isEmpty else { return false }
        do {
            _ = try AddressCommand(config: config).address(for: user)
            return true
        } catch {
            log(.info, user, "no token and no address from address_command: not enrolled at login (\(error))")
            return false
        }
    }

    /// The pending record the enrolment's counts are kept in: made now for a user enrolled
    /// from the directory (no address stored: `address_command` names it for each mail).
    /// False when the record is no longer pending (another login activated it meanwhile).
    func preparePending(user: String) throws -> Bool {
        var made = false
        let pending: Bool = try store.update(user: user) { record in
            if record == nil {
                record = TokenRecord.pending(user: user, email: "")
                made = true
            }
            return record?.pending ?? false
        }
        if made { log(.notice, user, "pending enrolment made: enroll_at_login, address from address_command") }
        return pending
    }

    /// The token is active: logged, and the user alerted at the token's address.
    func enrolled(user: String) {
        log(.notice, user, "token enrolled at the first login")
        alert(.enrolled, user: user)
    }
}

/// mode=interactive: the enrolment's steps.
extension InteractiveFlow {
    /// trigger → deliver → tell, then the new PIN asked twice (pin=token); the code prompts
    /// follow (`answerCodes`), a right code activating the token with that PIN.
    func enrolStep(user: String, conversation: Conversation, authtok: String?) -> CodeStep {
        do {
            guard try auth.preparePending(user: user) else { return .ended(FlowResult(status: .authError)) }
        } catch {
            return .ended(FlowResult(status: auth.logged(auth.refusal(storeError: error), user: user).result))
        }
        conversation.info(Messages.enrolling)
        let opened: OpenedChallenge
        switch trigger(user: user, pin: nil, conversation: conversation, finish: Messages.enrolMailNote, enrolling: Enrolling()) {
        case .opened(let challenge): opened = challenge
        case .ended(let result): return .ended(result.status == .success ? FlowResult(status: .authError) : result)
        }
        let prompt = tell(user: user, opened, conversation: conversation)
        var pin: String? = nil
        var pinHash: String? = nil
        if auth.pinMode == .token {
            switch chooseNewPIN(user: user, conversation: conversation) {
            case .success(let chosen): (pin, pinHash) = chosen
            case .failure(let status): return .ended(FlowResult(status: status))
            }
        }
        return .ask(CodeRequest(challenge: opened.challenge, prompt: prompt, echoes: [pin, authtok].compactMap { $0 },
                                enrolling: Enrolling(pinHash: pinHash)))
    }

    /// The new PIN, asked twice with the rules of `emailotp enroll` (`PINHash.validate`), and
    /// its hash; three attempts. A PIN that is refused here is no guess: nothing is counted.
    func chooseNewPIN(user: String, conversation: Conversation) -> Result<(pin: String, hash: String), AuthResult> {
        conversation.info(Messages.choosePIN)
        for _ in 0..<3 {
            guard let first = conversation.prompt(Messages.newPINPrompt, echo: false),
                  let second = conversation.prompt(Messages.repeatPINPrompt, echo: false) else { return .failure(.conversationError) }
            if auth.isNoAnswer(first) { return .failure(auth.noAnswer(user: user, at: "new PIN")) }
            if let problem = PINHash.validate(first) {
                conversation.error(Messages.pinRefused(problem))
                continue
            }
            guard Digest.constantTimeEqual(Array(first.utf8), Array(second.utf8)) else {
                conversation.error(Messages.pinsDiffer)
                continue
            }
            do {
                return .success((first, try PINHash.make(first, random: auth.random)))
            } catch {
                return .failure(auth.logged(auth.refusal(storeError: error), user: user).result)
            }
        }
        auth.log(.notice, user, "enrolment: no acceptable new PIN after 3 tries, nothing counted")
        return .failure(.authError)
    }
}

/// mode=challenge and emailotp check: the enrolment's steps.
extension ChallengeFlow {
    /// `mode=challenge` in the module: the password from the stack (use_first_pass; with
    /// try_first_pass only when it opens the challenge or answers it) or the prompt. `run`
    /// shows the result.
    func enrol(user: String, conversation: Conversation, stackPIN: String?, firstPass: FirstPass) -> FlowResult {
        switch (firstPass, stackPIN) {
        case (.use, nil):
            return FlowResult(status: auth.noStackedPassword(user: user))
        case (.use, let token?):
            return enrolAnswer(user: user, password: token)
        case (.try, let token?) where !hasOpenChallenge(user: user) || enrolmentAnswer(token) != nil:
            return enrolAnswer(user: user, password: token)
        default:
            break
        }
        guard let typed = conversation.prompt(auth.config.pinPrompt, echo: false) else { return FlowResult(status: .conversationError) }
        if auth.pinMode == .token && auth.isNoAnswer(typed) { return FlowResult(status: auth.noAnswer(user: user, at: "password")) }
        return enrolAnswer(user: user, password: typed)
    }

    /// One password of an enrolling login: while a challenge is open, the PIN chosen followed
    /// by the code (pin=token) or the code (pin=none) answers it; anything else opens one.
    func enrolAnswer(user: String, password: String) -> FlowResult {
        do {
            guard try auth.preparePending(user: user) else { return FlowResult(status: .authError) }
        } catch {
            return FlowResult(auth.logged(auth.refusal(storeError: error), user: user))
        }
        guard hasOpenChallenge(user: user), let answer = enrolmentAnswer(password) else { return enrolTrigger(user: user) }
        if let pin = answer.pin, let problem = PINHash.validate(pin) {
            auth.log(.notice, user, "enrolment: the PIN chosen was refused (\(problem)), nothing counted")
            return FlowResult(status: .authError, message: Messages.pinRefused(problem) + " " + Messages.enrolFinish(withPIN: true))
        }
        let outcome: VerifyOutcome
        do {
            let hash = try answer.pin.map { try PINHash.make($0, random: auth.random) }
            outcome = try auth.verify(user: user, code: answer.code, transactionID: nil, pin: nil, enrolling: Enrolling(pinHash: hash))
        } catch {
            return FlowResult(auth.logged(auth.refusal(storeError: error), user: user))
        }
        if outcome.isGrant { auth.enrolled(user: user) }
        return verified(user: user, outcome, transactionID: nil)
    }

    /// The shape of an answer, never checked against the record: the code, and with pin=token
    /// the PIN chosen before it. nil: the password cannot answer a code.
    func enrolmentAnswer(_ password: String) -> (pin: String?, code: String)? {
        if auth.pinMode == .none { return password.trimmedBlanks.isEmpty ? nil : (nil, password.trimmedBlanks) }
        return auth.digitSplit(password).map { ($0.pin, $0.code) }
    }

    /// Whether the user's record holds a challenge a code could still answer.
    func hasOpenChallenge(user: String) -> Bool {
        guard let record = try? auth.store.read(user: user) else { return false }
        let now = auth.clock.now()
        return record.targets(transactionID: nil, config: auth.config).contains { !$0.isExpired(at: now) }
    }

    /// Opens the enrolment's challenge: the first step, denied, its message saying how to finish.
    func enrolTrigger(user: String) -> FlowResult {
        let withPIN = auth.pinMode == .token
        let outcome: TriggerOutcome
        do {
            outcome = try auth.trigger(user: user, pin: nil, finish: Messages.enrolFinish(withPIN: withPIN), enrolling: Enrolling())
        } catch {
            return FlowResult(auth.logged(auth.refusal(triggerError: error), user: user))
        }
        switch outcome {
        case .sent(let challenge, let email), .reused(let challenge, let email):
            let sent = outcome == .sent(challenge, email: email)
            auth.log(.notice, user, (sent ? "enrolment code mailed to \(EmailAddress.masked(email))" : "open enrolment challenge re-used, no mail sent")
                + " (transaction \(challenge.transactionID)), first step denied")
            return FlowResult(status: .authError, challenge: challenge,
                              message: Messages.enrolChallenge(auth.shown(email), sent: sent, transactionID: challenge.transactionID,
                                                               withPIN: withPIN))
        default:
            return firstStep(user: user, outcome, withPIN: false, deferMiss: false)
        }
    }
}
