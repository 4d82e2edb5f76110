import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPSystem
import EmailOTPToken

/// `mode=interactive`: PIN prompt, mail, code prompt (up to `otp_tries`), in one transaction.
extension Authenticator {
    /// - Parameters:
    ///   - stackPIN: `PAM_AUTHTOK` when `use_first_pass`/`try_first_pass` asked for it.
    ///   - firstPass: how to treat `stackPIN`.
    ///   - authtok: `PAM_AUTHTOK` whatever `firstPass` says: a code answer equal to it is an echo.
    public func interactive(user given: String, conversation: Conversation, nullok: Bool,
                            stackPIN: String?, firstPass: FirstPass, authtok: String? = nil) -> AuthResult {
        let opened: OpenedLogin
        switch openLogin(user: given, nullok: nullok) {
        case .failure(let result): return result
        case .success(let login): opened = login
        }
        var alertDue = false
        let result = opened.enrolling
            ? enrolInteractive(user: opened.user, conversation: conversation, authtok: authtok, alertDue: &alertDue)
            : interactiveSteps(user: opened.user, conversation: conversation, stackPIN: stackPIN, firstPass: firstPass,
                               authtok: authtok, alertDue: &alertDue)
        alertLockout(user: opened.user, due: alertDue)
        return result
    }

    /// The PIN (from the stack or the prompt), the mail, the codes. `alertDue` is set when a
    /// refusal is due the lockout alert, the caller's last step.
    func interactiveSteps(user: String, conversation: Conversation, stackPIN: String?, firstPass: FirstPass,
                          authtok: String?, alertDue: inout Bool) -> AuthResult {
        var pin: String? = nil
        var pendingMisses = 0
        if pinMode == .token {
            switch firstPass {
            case .use:
                guard let token = stackPIN else { return noStackedPassword(user: user) }
                pin = token
            case .try:
                // The stacked password is checked like a typed PIN, charged first; a miss is
                // counted without locking yet and given back when the PIN typed next is right,
                // so the prompt (shown or not) is no free oracle.
                if let token = stackPIN {
                    switch triggerForUser(user, pin: token, conversation: conversation, deferMiss: true, alertDue: &alertDue) {
                    case .success(nil): return .success
                    case .success(let opened?):
                        return answerCodes(user: user, challenge: opened.challenge, prompt: opened.prompt,
                                           conversation: conversation, echoes: [token, authtok].compactMap { $0 }, alertDue: &alertDue)
                    case .failure(.stackedPINRefused(let counted)): pendingMisses = counted ? 1 : 0
                    case .failure(.refused(let result)): return result
                    }
                }
            case .no:
                break
            }
            if pin == nil {
                guard let answer = conversation.prompt(config.pinPrompt, echo: false) else {
                    alertDue = settleDeferredMisses(user: user, pendingMisses)
                    return .conversationError
                }
                if isNoAnswer(answer) {
                    alertDue = settleDeferredMisses(user: user, pendingMisses)
                    return noAnswer(user: user, at: "PIN")
                }
                pin = answer
            }
        }

        switch triggerForUser(user, pin: pin, conversation: conversation, pendingMisses: pendingMisses, alertDue: &alertDue) {
        case .success(nil): return .success
        case .success(let opened?):
            return answerCodes(user: user, challenge: opened.challenge, prompt: opened.prompt,
                               conversation: conversation, echoes: [pin, authtok].compactMap { $0 }, alertDue: &alertDue)
        case .failure(.refused(let result)): return result
        case .failure(.stackedPINRefused): return .authError
        }
    }

    /// The code prompts of one interactive login, up to `otp_tries`. An answer byte-equal to one
    /// of `echoes` (the PIN answer, `PAM_AUTHTOK`) comes from a client that answers every prompt
    /// with one password (Dovecot, OpenVPN, python-pam): it ends the login without counting a
    /// failure, since each such login would otherwise burn `otp_tries` failures. A blank answer
    /// ends it the same way: the client cannot prompt.
    func answerCodes(user: String, challenge: Challenge, prompt: String, conversation: Conversation,
                     echoes: [String] = [], enrolling: Enrolling? = nil, alertDue: inout Bool) -> AuthResult {
        for _ in 0..<config.otpTries {
            guard let answer = conversation.prompt(prompt, echo: false) else { return .conversationError }
            if isNoAnswer(answer) { return noAnswer(user: user, at: "code", transactionID: challenge.transactionID) }
            if echoes.contains(where: { !$0.isEmpty && Digest.constantTimeEqual(Array($0.utf8), Array(answer.utf8)) }) {
                log(.warning, user, "the code prompt was answered with the password again; no failure counted "
                    + "(transaction \(challenge.transactionID)); a client that sends one password to every prompt "
                    + "needs mode=challenge, a script must answer the code prompt with the mailed code")
                conversation.error(Messages.passwordAgain)
                return .authError
            }
            let outcome: VerifyOutcome
            do {
                outcome = try verify(user: user, code: answer.trimmedBlanks, transactionID: challenge.transactionID, pin: nil,
                                     enrolling: enrolling)
            } catch {
                return logged(refusal(storeError: error), user: user).result
            }
            if outcome.isGrant {
                log(.notice, user, "granted (transaction \(challenge.transactionID))")
                if enrolling != nil { enrolled(user: user) }
                granted(user: user, outcome: outcome)
                return .success
            }
            let refused = logged(refusal(outcome, transactionID: challenge.transactionID), user: user)
            alertDue = alertDue || refused.alertsLockout
            let result = show(refused, conversation)
            if case .wrong(let left) = outcome, left > 0 { continue }
            return result
        }
        return .authError
    }

    /// Opens the challenge of an interactive login and tells the user where the code went;
    /// `.success(nil)`: a remembered remote host, granted without a code.
    /// With `deferMiss` (a stacked password tried as the PIN), a PIN refusal is returned as
    /// `stackedPINRefused` with nothing shown (and no alert due), so that the caller can prompt.
    func triggerForUser(_ user: String, pin: String?, conversation: Conversation,
                        deferMiss: Bool = false, pendingMisses: Int = 0, finish: String = "",
                        enrolling: Enrolling? = nil, alertDue: inout Bool) -> Result<OpenedCode?, TriggerFailure> {
        let outcome: TriggerOutcome
        do {
            outcome = try trigger(user: user, pin: pin, deferMiss: deferMiss, pendingMisses: pendingMisses, finish: finish,
                                  remembered: true, enrolling: enrolling)
        } catch {
            // The recovery-code prompt instead of a mail failure; its result ends the login.
            if let fallback = recoveryFallback(user: user, error: error, conversation: conversation, alertDue: &alertDue) {
                return .failure(.refused(fallback))
            }
            return .failure(.refused(show(logged(refusal(triggerError: error), user: user), conversation)))
        }
        if deferMiss && outcome.isPINRefusal {
            // Logged only: the PIN prompt that follows decides, and a lock waits for it.
            if let refused = refusal(outcome) { logged(refused, user: user) }
            return .failure(.stackedPINRefused(counted: outcome == .wrongPIN))
        }
        switch outcome {
        case .remembered:
            logRememberedGrant(user: user, trustedNetwork: fromTrustedNetwork)
            return .success(nil)
        case .sent(let challenge, let email):
            log(.notice, user, "code mailed to \(EmailAddress.masked(email)) (transaction \(challenge.transactionID))")
            let prompt = codePrompt(email: email, validity: config.otpValidity)
            if prompt.showSent { conversation.info(Messages.sent(shown(email), validity: config.otpValidity)) }
            return .success(OpenedCode(challenge: challenge, prompt: prompt.text))
        case .reused(let challenge, let email):
            log(.notice, user, "open challenge re-used, no mail sent (transaction \(challenge.transactionID))")
            let prompt = codePrompt(email: email, validity: challenge.expires - clock.now())
            if prompt.showSent { conversation.info(Messages.reused(shown(email), interval: config.resendInterval)) }
            return .success(OpenedCode(challenge: challenge, prompt: prompt.text))
        default:
            let refused = logged(refusal(outcome) ?? Refusal(result: .authError, message: ""), user: user)
            alertDue = alertDue || refused.alertsLockout
            return .failure(.refused(show(refused, conversation)))
        }
    }

    func show(_ refused: Refusal, _ conversation: Conversation) -> AuthResult {
        if !refused.message.isEmpty { conversation.error(refused.message) }
        return refused.result
    }
}

/// An opened (or re-used) challenge of an interactive login and its code prompt.
struct OpenedCode {
    var challenge: Challenge
    var prompt: String
}

enum TriggerFailure: Error, Equatable {
    case refused(AuthResult)
    /// The stacked password was not the PIN (or the token cannot be used, answered alike);
    /// `counted`: a miss that was counted, given back when a right PIN follows.
    case stackedPINRefused(counted: Bool)
}

extension TriggerOutcome {
    /// Every outcome that answers like a wrong PIN.
    var isPINRefusal: Bool {
        switch self {
        case .wrongPIN, .noPIN, .locked, .disabled, .noToken: return true
        default: return false
        }
    }
}
