import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPSystem
import EmailOTPToken

/// `mode=interactive`: PIN prompt, mail, code prompt (up to `otp_tries`), in one transaction.
/// `run` is the whole login, one step after the other (docs/DESIGN.md, "One interactive login"):
/// open → PIN (`pinStep`; enrolling: `enrolStep`) → trigger (charge, check the PIN, open the
/// challenge) → deliver (mail, arm) → tell → verify (`answerCodes`) → alert.
public struct InteractiveFlow {
    /// The ports and the store operations every step calls (`trigger`, `verify`, `log`, …).
    let auth: Authenticator

    public init(_ auth: Authenticator) {
        self.auth = auth
    }

    /// One login.
    /// - Parameters:
    ///   - stackPIN: `PAM_AUTHTOK` when `use_first_pass`/`try_first_pass` asked for it.
    ///   - firstPass: how to treat `stackPIN`.
    ///   - authtok: `PAM_AUTHTOK` whatever `firstPass` says: a code answer equal to it is an echo.
    public func run(user given: String, conversation: Conversation, nullok: Bool,
                    stackPIN: String?, firstPass: FirstPass, authtok: String? = nil) -> FlowResult {
        let opened: OpenedLogin
        switch auth.openLogin(user: given, nullok: nullok) {
        case .failure(let status): return FlowResult(status: status)
        case .success(let login): opened = login
        }
        let user = opened.user
        let asked = opened.enrolling
            ? enrolStep(user: user, conversation: conversation, authtok: authtok)
            : pinStep(user: user, conversation: conversation, stackPIN: stackPIN, firstPass: firstPass, authtok: authtok)
        let result: FlowResult
        switch asked {
        case .ended(let ended): result = ended
        case .ask(let request): result = answerCodes(user: user, request, conversation: conversation)
        }
        auth.alertLockout(user: user, due: result.alertDue)
        return result
    }

    /// The PIN (from the stack or the prompt), then the code it opens (`codeRequest`).
    func pinStep(user: String, conversation: Conversation, stackPIN: String?, firstPass: FirstPass,
                 authtok: String?) -> CodeStep {
        var pin: String? = nil
        var pendingMisses = 0
        if auth.pinMode == .token {
            switch firstPass {
            case .use:
                guard let token = stackPIN else { return .ended(FlowResult(status: auth.noStackedPassword(user: user))) }
                pin = token
            case .try:
                // The stacked password is checked like a typed PIN, charged first; a miss is
                // counted without locking yet and given back when the PIN typed next is right,
                // so the prompt (shown or not) is no free oracle.
                if let token = stackPIN {
                    let tried = codeRequest(user: user, pin: token, conversation: conversation, deferMiss: true,
                                            echoes: [token, authtok].compactMap { $0 })
                    guard case .ended(let ended) = tried, let miss = ended.deferredMiss else { return tried }
                    pendingMisses = miss.counted ? 1 : 0
                }
            case .no:
                break
            }
            if pin == nil {
                guard let answer = conversation.prompt(auth.config.pinPrompt, echo: false) else {
                    return .ended(auth.endBeforePIN(user: user, misses: pendingMisses) { .conversationError })
                }
                if auth.isNoAnswer(answer) {
                    return .ended(auth.endBeforePIN(user: user, misses: pendingMisses) { auth.noAnswer(user: user, at: "PIN") })
                }
                pin = answer
            }
        }
        let asked = codeRequest(user: user, pin: pin, conversation: conversation, pendingMisses: pendingMisses,
                                echoes: [pin, authtok].compactMap { $0 })
        if case .ended(let ended) = asked, ended.deferredMiss != nil { return .ended(FlowResult(status: .authError)) }
        return asked
    }

    /// trigger → deliver → tell: opens the challenge (or re-uses one) and tells the user where
    /// the code went; the code prompt follows (`answerCodes`). An answer byte-equal to one of
    /// `echoes` is the password again.
    func codeRequest(user: String, pin: String?, conversation: Conversation, deferMiss: Bool = false,
                     pendingMisses: Int = 0, echoes: [String]) -> CodeStep {
        switch trigger(user: user, pin: pin, conversation: conversation, deferMiss: deferMiss, pendingMisses: pendingMisses) {
        case .ended(let result):
            return .ended(result)
        case .opened(let opened):
            let prompt = tell(user: user, opened, conversation: conversation)
            return .ask(CodeRequest(challenge: opened.challenge, prompt: prompt, echoes: echoes))
        }
    }

    /// trigger and deliver (`Authenticator.trigger`): charge, check the PIN, open the challenge,
    /// mail its code and arm it. A refusal is shown here; a mail that failed offers the
    /// recovery-code prompt (`recoveryFallback`), whose result ends the login.
    func trigger(user: String, pin: String?, conversation: Conversation, deferMiss: Bool = false,
                 pendingMisses: Int = 0, finish: String = "", enrolling: Enrolling? = nil) -> Triggered {
        let outcome: TriggerOutcome
        do {
            outcome = try auth.trigger(user: user, pin: pin, deferMiss: deferMiss, pendingMisses: pendingMisses, finish: finish,
                                       remembered: true, enrolling: enrolling)
        } catch {
            if let fallback = recoveryFallback(user: user, error: error, conversation: conversation) { return .ended(fallback) }
            return .ended(show(FlowResult(auth.logged(auth.refusal(triggerError: error), user: user)), conversation))
        }
        let triggered = auth.triggered(outcome, user: user, deferMiss: deferMiss)
        if case .ended(let result) = triggered, result.deferredMiss == nil { _ = show(result, conversation) }
        return triggered
    }

    /// Logs where the code went, tells the user (unless the prompt says it) and returns the
    /// code prompt.
    func tell(user: String, _ opened: OpenedChallenge, conversation: Conversation) -> String {
        let (challenge, email) = (opened.challenge, opened.email)
        let prompt: (text: String, showSent: Bool)
        if opened.sent {
            auth.log(.notice, user, "code mailed to \(EmailAddress.masked(email)) (transaction \(challenge.transactionID))")
            prompt = codePrompt(email: email, validity: auth.config.otpValidity)
            if prompt.showSent { conversation.info(Messages.sent(auth.shown(email), validity: auth.config.otpValidity)) }
        } else {
            auth.log(.notice, user, "open challenge re-used, no mail sent (transaction \(challenge.transactionID))")
            prompt = codePrompt(email: email, validity: challenge.expires - auth.clock.now())
            if prompt.showSent { conversation.info(Messages.reused(auth.shown(email), interval: auth.config.resendInterval)) }
        }
        return prompt.text
    }

    /// verify: the code prompts of one interactive login, up to `otp_tries`. An answer
    /// byte-equal to one of the request's `echoes` (the PIN answer, `PAM_AUTHTOK`) comes from a client that
    /// answers every prompt with one password (Dovecot, OpenVPN, python-pam): it ends the login
    /// without counting a failure, since each such login would otherwise burn `otp_tries`
    /// failures. A blank answer ends it the same way: the client cannot prompt.
    func answerCodes(user: String, _ request: CodeRequest, conversation: Conversation) -> FlowResult {
        let (challenge, prompt, echoes, enrolling) = (request.challenge, request.prompt, request.echoes, request.enrolling)
        var alertDue = false
        func ended(_ status: AuthResult) -> FlowResult { FlowResult(status: status, alertDue: alertDue) }
        for _ in 0..<auth.config.otpTries {
            guard let answer = conversation.prompt(prompt, echo: false) else { return ended(.conversationError) }
            if auth.isNoAnswer(answer) { return ended(auth.noAnswer(user: user, at: "code", transactionID: challenge.transactionID)) }
            if echoes.contains(where: { !$0.isEmpty && Digest.constantTimeEqual(Array($0.utf8), Array(answer.utf8)) }) {
                auth.log(.warning, user, "the code prompt was answered with the password again; no failure counted "
                    + "(transaction \(challenge.transactionID)); a client that sends one password to every prompt "
                    + "needs mode=challenge, a script must answer the code prompt with the mailed code")
                conversation.error(Messages.passwordAgain)
                return ended(.authError)
            }
            let outcome: VerifyOutcome
            do {
                outcome = try auth.verify(user: user, code: answer.trimmedBlanks, transactionID: challenge.transactionID, pin: nil,
                                          enrolling: enrolling)
            } catch {
                return ended(auth.logged(auth.refusal(storeError: error), user: user).result)
            }
            if outcome.isGrant {
                auth.log(.notice, user, "granted (transaction \(challenge.transactionID))")
                if enrolling != nil { auth.enrolled(user: user) }
                auth.granted(user: user, outcome: outcome)
                return ended(.success)
            }
            let refused = auth.logged(auth.refusal(outcome, transactionID: challenge.transactionID), user: user)
            alertDue = alertDue || refused.alertsLockout
            let status = show(FlowResult(refused), conversation).status
            if case .wrong(let left) = outcome, left > 0 { continue }
            return ended(status)
        }
        return ended(.authError)
    }

    /// The code prompt for a code mailed to `email` that is good `validity` more seconds, and
    /// whether the separate "A code was sent" message is still to be shown: not when
    /// `otp_prompt` names `{address}` itself, nor when the application asked for silence or has
    /// no terminal (then `Messages.quietCodePrompt` unless `otp_prompt` names the address).
    func codePrompt(email: String, validity: Int64) -> (text: String, showSent: Bool) {
        let template: String
        let showSent: Bool
        if Messages.namesAddress(auth.config.otpPrompt) {
            (template, showSent) = (auth.config.otpPrompt, false)
        } else if auth.context.quiet {
            (template, showSent) = (Messages.quietCodePrompt, false)
        } else {
            (template, showSent) = (auth.config.otpPrompt, true)
        }
        return (Messages.codePrompt(template, address: auth.shown(email), validity: validity), showSent)
    }

    /// Shows a refusal's message as an error; returns the result.
    func show(_ result: FlowResult, _ conversation: Conversation) -> FlowResult {
        if !result.message.isEmpty { conversation.error(result.message) }
        return result
    }
}

/// What an interactive login asks next: the code of a challenge it opened, or nothing (it ended).
enum CodeStep {
    case ask(CodeRequest)
    case ended(FlowResult)
}

/// The code prompt of a challenge an interactive login opened (or re-used): the answers that are
/// the password again (`echoes`), and the enrolment a right code activates.
struct CodeRequest {
    var challenge: Challenge
    var prompt: String
    var echoes: [String]
    var enrolling: Enrolling? = nil
}
