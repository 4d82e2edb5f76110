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

    // MARK: mode=interactive

    /// Mails the code, asks the new PIN twice (pin=token), then the code, up to `otp_tries`.
    func enrolInteractive(user: String, conversation: Conversation, authtok: String?, alertDue: inout Bool) -> AuthResult {
        do {
            guard try preparePending(user: user) else { return .authError }
        } catch {
            return logged(refusal(storeError: error), user: user).result
        }
        conversation.info(Messages.enrolling)
        let opened: OpenedCode
        switch triggerForUser(user, pin: nil, conversation: conversation, finish: Messages.enrolMailNote, enrolling: Enrolling(),
                              alertDue: &alertDue) {
        case .success(let code?): opened = code
        case .success(nil), .failure(.stackedPINRefused): return .authError
        case .failure(.refused(let result)): return result
        }
        var pin: String? = nil
        var pinHash: String? = nil
        if pinMode == .token {
            switch chooseNewPIN(user: user, conversation: conversation) {
            case .success(let chosen): (pin, pinHash) = chosen
            case .failure(let result): return result
            }
        }
        return answerCodes(user: user, challenge: opened.challenge, prompt: opened.prompt, conversation: conversation,
                           echoes: [pin, authtok].compactMap { $0 }, enrolling: Enrolling(pinHash: pinHash), alertDue: &alertDue)
    }

    /// The new PIN, asked twice with the rules of `emailotp enroll` (`PINHash.validate`), and
    /// its hash; three attempts. A PIN that is refused here is no guess: nothing is counted.
    func chooseNewPIN(user: String, conversation: Conversation) -> Result<(pin: String, hash: String), AuthResult> {
        conversation.info(Messages.choosePIN)
        for _ in 0..<3 {
            guard let first = conversation.prompt(Messages.newPINPrompt, echo: false),
                  let second = conversation.prompt(Messages.repeatPINPrompt, echo: false) else { return .failure(.conversationError) }
            if isNoAnswer(first) { return .failure(noAnswer(user: user, at: "new PIN")) }
            if let problem = PINHash.validate(first) {
                conversation.error(Messages.pinRefused(problem))
                continue
            }
            guard Digest.constantTimeEqual(Array(first.utf8), Array(second.utf8)) else {
                conversation.error(Messages.pinsDiffer)
                continue
            }
            do {
                return .success((first, try PINHash.make(first, random: random)))
            } catch {
                return .failure(logged(refusal(storeError: error), user: user).result)
            }
        }
        log(.notice, user, "enrolment: no acceptable new PIN after 3 tries, nothing counted")
        return .failure(.authError)
    }

    // MARK: mode=challenge and emailotp check

    /// `mode=challenge` in the module: the password from the stack (use_first_pass; with
    /// try_first_pass only when it opens the challenge or answers it) or the prompt. The caller
    /// shows the report.
    func enrolChallenge(user: String, conversation: Conversation, stackPIN: String?, firstPass: FirstPass) -> StepReport {
        switch (firstPass, stackPIN) {
        case (.use, nil):
            return StepReport(result: noStackedPassword(user: user))
        case (.use, let token?):
            return enrolAnswer(user: user, password: token)
        case (.try, let token?) where !hasOpenChallenge(user: user) || enrolmentAnswer(token) != nil:
            return enrolAnswer(user: user, password: token)
        default:
            break
        }
        guard let typed = conversation.prompt(config.pinPrompt, echo: false) else { return StepReport(result: .conversationError) }
        if pinMode == .token && isNoAnswer(typed) { return StepReport(result: noAnswer(user: user, at: "password")) }
        return enrolAnswer(user: user, password: typed)
    }

    /// One password of an enrolling login: while a challenge is open, the PIN chosen followed
    /// by the code (pin=token) or the code (pin=none) answers it; anything else opens one.
    func enrolAnswer(user: String, password: String) -> StepReport {
        do {
            guard try preparePending(user: user) else { return StepReport(result: .authError) }
        } catch {
            return StepReport(logged(refusal(storeError: error), user: user))
        }
        guard hasOpenChallenge(user: user), let answer = enrolmentAnswer(password) else { return enrolTrigger(user: user) }
        if let pin = answer.pin, let problem = PINHash.validate(pin) {
            log(.notice, user, "enrolment: the PIN chosen was refused (\(problem)), nothing counted")
            return StepReport(result: .authError, message: Messages.pinRefused(problem) + " " + Messages.enrolFinish(withPIN: true))
        }
        let outcome: VerifyOutcome
        do {
            let hash = try answer.pin.map { try PINHash.make($0, random: random) }
            outcome = try verify(user: user, code: answer.code, transactionID: nil, pin: nil, enrolling: Enrolling(pinHash: hash))
        } catch {
            return StepReport(logged(refusal(storeError: error), user: user))
        }
        if outcome.isGrant { enrolled(user: user) }
        return secondStepReport(user: user, outcome, transactionID: nil)
    }

    /// The shape of an answer, never checked against the record: the code, and with pin=token
    /// the PIN chosen before it. nil: the password cannot answer a code.
    func enrolmentAnswer(_ password: String) -> (pin: String?, code: String)? {
        if pinMode == .none { return password.trimmedBlanks.isEmpty ? nil : (nil, password.trimmedBlanks) }
        return digitSplit(password).map { ($0.pin, $0.code) }
    }

    /// Whether the user's record holds a challenge a code could still answer.
    func hasOpenChallenge(user: String) -> Bool {
        guard let record = try? store.read(user: user) else { return false }
        let now = clock.now()
        return record.targets(transactionID: nil, config: config).contains { !$0.isExpired(at: now) }
    }

    /// Opens the enrolment's challenge: the first step, denied, its message saying how to finish.
    func enrolTrigger(user: String) -> StepReport {
        let withPIN = pinMode == .token
        let outcome: TriggerOutcome
        do {
            outcome = try trigger(user: user, pin: nil, finish: Messages.enrolFinish(withPIN: withPIN), enrolling: Enrolling())
        } catch {
            return StepReport(logged(refusal(triggerError: error), user: user))
        }
        switch outcome {
        case .sent(let challenge, let email), .reused(let challenge, let email):
            let sent = outcome == .sent(challenge, email: email)
            log(.notice, user, (sent ? "enrolment code mailed to \(EmailAddress.masked(email))" : "open enrolment challenge re-used, no mail sent")
                + " (transaction \(challenge.transactionID)), first step denied")
            return StepReport(result: .authError, challenge: challenge,
                              message: Messages.enrolChallenge(shown(email), sent: sent, transactionID: challenge.transactionID,
                                                               withPIN: withPIN))
        default:
            return firstStepReport(user: user, outcome, withPIN: false, deferMiss: false)
        }
    }
}
