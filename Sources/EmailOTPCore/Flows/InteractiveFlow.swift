/// `mode=interactive`: PIN prompt, mail, code prompt (up to `otp_tries`), in one transaction.
extension Authenticator {
    /// - Parameters:
    ///   - stackPIN: `PAM_AUTHTOK` when `use_first_pass`/`try_first_pass` asked for it.
    ///   - firstPass: how to treat `stackPIN`.
    public func interactive(user: String, conversation: Conversation, nullok: Bool,
                            stackPIN: String?, firstPass: FirstPass) -> AuthResult {
        if (try? UserName.validate(user)) == nil {
            log(.notice, user, "refused: user name cannot be enrolled")
            return .userUnknown
        }
        let existing: TokenRecord?
        do {
            existing = try store.read(user: user)
        } catch {
            log(.error, user, "store error: \(error)")
            return .unavailable
        }
        if existing == nil && nullok {
            log(.info, user, "no token, nullok: ignored")
            return .ignore
        }

        var pin: String? = nil
        if pinMode == .token {
            switch firstPass {
            case .use:
                guard let token = stackPIN else {
                    log(.notice, user, "use_first_pass given but no earlier module set a password")
                    return .authError
                }
                pin = token
            case .try:
                if let token = stackPIN, let hash = existing?.pinHash, PINHash.verify(token, hash: hash) {
                    pin = token
                }
            case .no:
                break
            }
            if pin == nil {
                guard let answer = conversation.prompt(config.pinPrompt, echo: false) else { return .conversationError }
                pin = answer
            }
        }

        if rememberedLogin(user: user, pin: pin) { return .success }  // issue 12

        let challenge: Challenge
        switch triggerForUser(user, pin: pin, conversation: conversation) {
        case .failure(let result): return result
        case .success(let opened): challenge = opened
        }

        for _ in 0..<config.otpTries {
            guard let answer = conversation.prompt(config.otpPrompt, echo: false) else { return .conversationError }
            let outcome: VerifyOutcome
            do {
                outcome = try verify(user: user, code: answer.trimmedBlanks, transactionID: challenge.transactionID, pin: nil)
            } catch {
                return storeRefusal(error, user: user).result
            }
            if outcome.isGrant {
                log(.notice, user, "granted (transaction \(challenge.transactionID))")
                granted(user: user, outcome: outcome)  // issue 12
                return .success
            }
            let result = show(refusal(outcome, user: user, transactionID: challenge.transactionID), conversation)
            if case .wrong(let left) = outcome, left > 0 { continue }
            return result
        }
        return .authError
    }

    /// Opens the challenge of an interactive login and tells the user where the code went.
    func triggerForUser(_ user: String, pin: String?, conversation: Conversation) -> Result<Challenge, AuthResult> {
        let outcome: TriggerOutcome
        do {
            outcome = try trigger(user: user, pin: pin)
        } catch {
            // Issue 12: the recovery-code prompt instead of a mail failure; its result ends the login.
            if let fallback = recoveryFallback(user: user, error: error, conversation: conversation) { return .failure(fallback) }
            return .failure(show(refusal(triggerError: error, user: user), conversation))
        }
        switch outcome {
        case .sent(let challenge, let email):
            log(.notice, user, "code mailed to \(EmailAddress.masked(email)) (transaction \(challenge.transactionID))")
            conversation.info(Messages.sent(shown(email), validity: config.otpValidity))
            return .success(challenge)
        case .reused(let challenge, let email):
            log(.notice, user, "open challenge re-used, no mail sent (transaction \(challenge.transactionID))")
            conversation.info(Messages.reused(shown(email), interval: config.resendInterval))
            return .success(challenge)
        default:
            let refused = refusal(outcome, user: user) ?? Refusal(result: .authError, message: "")
            return .failure(show(refused, conversation))
        }
    }

    func show(_ refused: Refusal, _ conversation: Conversation) -> AuthResult {
        if !refused.message.isEmpty { conversation.error(refused.message) }
        return refused.result
    }
}
