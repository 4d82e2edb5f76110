import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPSystem
import EmailOTPToken

/// `mode=challenge` and `emailotp check`: the two-step flow for clients that send one password
/// per attempt (pam_emailotp(8), OPTIONS, mode=challenge).
/// The password is the PIN (the mail is sent, access denied) or the PIN followed by the code
/// (granted). With `pin=none`, an empty password triggers and the code alone answers.
/// `run` is the whole login, one step after the other (docs/DESIGN.md, "One challenge-mode
/// login"): open → password → check (charge, check the PIN candidates: trigger or verify) →
/// deliver (mail, arm) → tell → show → alert.
public struct ChallengeFlow {
    /// The ports and the store operations every step calls (`attempt`, `deliver`, `log`, …).
    let auth: Authenticator

    public init(_ auth: Authenticator) {
        self.auth = auth
    }

    /// `mode=challenge` in the module: one password, from the stack (`use_first_pass`,
    /// `try_first_pass`) or the prompt, after the shared opening (so `nullok` is decided before
    /// any prompt). With `try_first_pass` a stacked password that is not the PIN leads to the
    /// prompt; its miss is counted unless the password typed there holds the right PIN.
    public func run(user given: String, conversation: Conversation, nullok: Bool,
                    stackPIN: String?, firstPass: FirstPass) -> FlowResult {
        let opened: OpenedLogin
        switch auth.openLogin(user: given, nullok: nullok) {
        case .failure(let status): return FlowResult(status: status)
        case .success(let login): opened = login
        }
        let result = opened.enrolling
            ? enrol(user: opened.user, conversation: conversation, stackPIN: stackPIN, firstPass: firstPass)
            : password(user: opened.user, conversation: conversation, stackPIN: stackPIN, firstPass: firstPass)
        show(result, conversation)
        auth.alertLockout(user: opened.user, due: result.alertDue)
        return result
    }

    /// `emailotp check`: one password line, as `run` answers a password; the caller prints the
    /// result's message.
    public func step(user given: String, password: String, nullok: Bool) -> FlowResult {
        let opened: OpenedLogin
        switch auth.openLogin(user: given, nullok: nullok) {
        case .failure(let status): return FlowResult(status: status)
        case .success(let login): opened = login
        }
        let result = opened.enrolling ? enrolAnswer(user: opened.user, password: password)
            : check(user: opened.user, password: password)
        auth.alertLockout(user: opened.user, due: result.alertDue)
        return result
    }

    /// `emailotp check --transaction-id T`: the code alone, for that challenge only. The
    /// transaction id stands for the PIN presented in the first step.
    public func answer(user: String, transactionID: String, code: String) -> FlowResult {
        guard transactionID.utf8.count == 20, transactionID.isASCIIDigits else {
            auth.log(.notice, user, "refused: malformed transaction id")
            return FlowResult(status: .authError, message: Messages.noChallenge)
        }
        let result = secondStep(user: user, code: code, transactionID: transactionID, pin: nil)
        auth.alertLockout(user: user, due: result.alertDue)
        return result
    }

    /// The password from the stack or the prompt, checked (`check`); `run` shows the result.
    func password(user: String, conversation: Conversation, stackPIN: String?, firstPass: FirstPass) -> FlowResult {
        var pendingMisses = 0
        switch (firstPass, stackPIN) {
        case (.use, nil):
            return FlowResult(status: auth.noStackedPassword(user: user))
        case (.use, let token?):
            return check(user: user, password: token)
        case (.try, let token?) where auth.pinMode == .token:
            let tried = check(user: user, password: token, deferMiss: true)
            guard let miss = tried.deferredMiss else { return tried }
            pendingMisses = miss.counted ? 1 : 0
        case (.try, let token?):
            return check(user: user, password: token)
        default:
            break
        }
        guard let typed = conversation.prompt(auth.config.pinPrompt, echo: false) else {
            return auth.endBeforePIN(user: user, misses: pendingMisses) { .conversationError }
        }
        // With pin=none an empty password is the first step; with a PIN it is no answer.
        if auth.pinMode == .token && auth.isNoAnswer(typed) {
            return auth.endBeforePIN(user: user, misses: pendingMisses) { auth.noAnswer(user: user, at: "password") }
        }
        return check(user: user, password: typed, pendingMisses: pendingMisses)
    }

    /// Tells the user of a challenge the login opened (no failure: `ChallengeAware`), or shows
    /// a refusal's message as an error.
    func show(_ result: FlowResult, _ conversation: Conversation) {
        if result.isChallenge { (conversation as? ChallengeAware)?.challengeOpened() }
        if !result.message.isEmpty {
            if result.isChallenge { conversation.info(result.message) } else { conversation.error(result.message) }
        }
    }

    /// One password of an opened login: the PIN (trigger) or the PIN followed by the code
    /// (verify), decided in one attempt (`attempt`, `.password`): the PIN candidates are
    /// compared only once the attempt is charged. A trigger goes on to deliver and tell.
    func check(user: String, password: String, deferMiss: Bool = false, pendingMisses: Int = 0) -> FlowResult {
        if auth.pinMode == .none {
            if rememberedLogin(user: user) { return FlowResult(status: .success) }
            return password.isEmpty ? firstStep(user: user, pin: nil)
                : secondStep(user: user, code: password, transactionID: nil, pin: nil)
        }
        let outcome: AttemptOutcome
        let code: String
        do {
            (outcome, code) = try auth.attempt(user: user, .password(password), deferMiss: deferMiss,
                                               refunds: pendingMisses, remembered: true)
        } catch {
            return FlowResult(auth.logged(auth.refusal(storeError: error), user: user))
        }
        switch outcome {
        case .cachedGrant:
            // A client re-sending a granted PIN + code (pam_emailotp(8), Challenge mode) is
            // answered before the open challenges are tried, so it costs none of their tries.
            auth.log(.notice, user, "granted from auth_cache")
            return FlowResult(status: .success)
        case .verify(let verified) where !verified.isGrant:
            // One reply for every wrong password, whichever of its PIN candidates was the PIN
            // (a wrong code, no code waiting, an expired one): the same as a wrong PIN, so that
            // a password tested as several PINs says nothing of which one matched. The log
            // keeps the reason.
            var result = FlowResult(auth.logged(auth.refusal(verified), user: user))
            result.message = ""
            return result
        case .verify(let checked):
            let result = verified(user: user, checked, transactionID: nil)
            // A recovery code is for a mail outage, and single-use in every sense: never cached.
            if checked == .granted { rememberGrant(user: user, password: password) }
            return result
        case .trigger(let opened):
            let delivered: TriggerOutcome
            do {
                delivered = try auth.deliver(opened, user: user, code: code, finish: Messages.mailFinish(withPIN: true))
            } catch {
                return FlowResult(auth.logged(auth.refusal(triggerError: error), user: user))
            }
            return firstStep(user: user, delivered, withPIN: true, deferMiss: deferMiss)
        }
    }

    /// trigger and deliver with pin=none (an empty password): opens the challenge and mails it.
    func firstStep(user: String, pin: String?) -> FlowResult {
        let outcome: TriggerOutcome
        do {
            outcome = try auth.trigger(user: user, pin: pin, finish: Messages.mailFinish(withPIN: pin != nil))
        } catch {
            return FlowResult(auth.logged(auth.refusal(triggerError: error), user: user))
        }
        return firstStep(user: user, outcome, withPIN: pin != nil, deferMiss: false)
    }

    /// The first step's result: the challenge told of (`tell`), or the end of the login
    /// (`Authenticator.triggered`).
    func firstStep(user: String, _ outcome: TriggerOutcome, withPIN: Bool, deferMiss: Bool) -> FlowResult {
        switch auth.triggered(outcome, user: user, deferMiss: deferMiss) {
        case .ended(let result): return result
        case .opened(let opened): return tell(user: user, opened, withPIN: withPIN)
        }
    }

    /// Logs where the code went; the first step is denied, its message saying where the code
    /// went and how to finish.
    func tell(user: String, _ opened: OpenedChallenge, withPIN: Bool) -> FlowResult {
        let (challenge, email) = (opened.challenge, opened.email)
        let message: String
        if opened.sent {
            auth.log(.notice, user, "code mailed to \(EmailAddress.masked(email)) (transaction \(challenge.transactionID)), first step denied")
            message = Messages.challengeSent(auth.shown(email), validity: auth.config.otpValidity,
                                             transactionID: challenge.transactionID, withPIN: withPIN)
        } else {
            auth.log(.notice, user, "open challenge re-used, no mail sent (transaction \(challenge.transactionID))")
            message = Messages.challengeReused(auth.shown(email), interval: auth.config.resendInterval,
                                               transactionID: challenge.transactionID, withPIN: withPIN)
        }
        return FlowResult(status: .authError, challenge: challenge, message: message)
    }

    /// verify: a code (with pin=none, or after `--transaction-id`).
    func secondStep(user: String, code: String, transactionID: String?, pin: String?) -> FlowResult {
        let outcome: VerifyOutcome
        do {
            outcome = try auth.verify(user: user, code: code, transactionID: transactionID, pin: pin)
        } catch {
            return FlowResult(auth.logged(auth.refusal(storeError: error), user: user))
        }
        return verified(user: user, outcome, transactionID: transactionID)
    }

    /// A check's outcome: granted (logged, then the steps after a grant: `granted`), or refused.
    func verified(user: String, _ outcome: VerifyOutcome, transactionID: String?) -> FlowResult {
        if outcome.isGrant {
            auth.log(.notice, user, "granted")
            auth.granted(user: user, outcome: outcome)
            return FlowResult(status: .success)
        }
        return FlowResult(auth.logged(auth.refusal(outcome, transactionID: transactionID), user: user))
    }
}

extension Authenticator {
    /// `password` cut before its last `otp_length` bytes when those are ASCII digits.
    func digitSplit(_ password: String) -> (pin: String, code: String)? {
        let length = config.otpLength
        // Split on bytes, not Characters: a PIN ending in a combining or prepending scalar must
        // not merge with the first digit of the code. ASCII digits end on a UTF-8 boundary.
        let bytes = Array(password.utf8)
        guard bytes.count > length else { return nil }
        let code = String(decoding: bytes.suffix(length), as: UTF8.self)
        guard code.isASCIIDigits else { return nil }
        return (String(decoding: bytes.dropLast(length), as: UTF8.self), code)
    }
}
