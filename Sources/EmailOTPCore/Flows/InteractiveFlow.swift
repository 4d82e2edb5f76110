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
                log(.error, user, "store error: \(error)")
                return .unavailable
            }
            switch outcome {
            case .granted:
                log(.notice, user, "granted (transaction \(challenge.transactionID))")
                return .success
            case .wrong(let left):
                log(.notice, user, "wrong code (transaction \(challenge.transactionID), \(left) tries left)")
                if left > 0 {
                    conversation.error(Messages.wrongCode(triesLeft: left))
                    continue
                }
                conversation.error(Messages.wrongCodeFinal)
                return .authError
            default:
                return report(outcome, user: user, conversation: conversation)
            }
        }
        return .authError
    }

    /// Opens the challenge of an interactive login and tells the user where the code went.
    func triggerForUser(_ user: String, pin: String?, conversation: Conversation) -> Result<Challenge, AuthResult> {
        do {
            switch try trigger(user: user, pin: pin) {
            case .sent(let challenge, let email):
                log(.notice, user, "code mailed to \(EmailAddress.masked(email)) (transaction \(challenge.transactionID))")
                conversation.info(Messages.sent(shown(email), validity: config.otpValidity))
                return .success(challenge)
            case .reused(let challenge, let email):
                log(.notice, user, "open challenge re-used, no mail sent (transaction \(challenge.transactionID))")
                conversation.info(Messages.reused(shown(email), interval: config.resendInterval))
                return .success(challenge)
            case .noToken:
                log(.notice, user, "refused: no token")
                return .failure(.userUnknown)
            case .disabled:
                log(.notice, user, "refused: token disabled")
                conversation.error(Messages.disabled)
                return .failure(.authError)
            case .locked:
                log(.notice, user, "refused: token locked")
                conversation.error(Messages.locked)
                return .failure(.authError)
            case .wrongPIN:
                log(.notice, user, "wrong PIN")
                return .failure(.authError)
            case .noPIN:
                log(.warning, user, "refused: the token has no PIN; use pin=none for it")
                return .failure(.authError)
            case .rateLimited:
                log(.warning, user, "refused: max_mails_per_hour reached, no mail sent")
                conversation.error(Messages.rateLimited)
                return .failure(.unavailable)
            }
        } catch let failure as DeliveryFailure {
            log(.error, user, "mail failed: \(failure.reason)")
            conversation.error(Messages.mailFailed)
            return .failure(.unavailable)
        } catch {
            log(.error, user, "store error: \(error)")
            return .failure(.unavailable)
        }
    }

    /// Logs and shows a verification outcome that is not a grant or a wrong code.
    func report(_ outcome: VerifyOutcome, user: String, conversation: Conversation) -> AuthResult {
        switch outcome {
        case .granted: return .success
        case .wrong: conversation.error(Messages.wrongCodeFinal)
        case .expired:
            log(.notice, user, "expired code")
            conversation.error(Messages.expired)
        case .noChallenge:
            log(.notice, user, "no open challenge for the code")
            conversation.error(Messages.noChallenge)
        case .locked:
            log(.notice, user, "refused: token locked")
            conversation.error(Messages.locked)
        case .disabled:
            log(.notice, user, "refused: token disabled")
            conversation.error(Messages.disabled)
        case .noToken:
            log(.notice, user, "refused: no token")
            return .userUnknown
        case .wrongPIN:
            log(.notice, user, "wrong PIN")
        case .noPIN:
            log(.warning, user, "refused: the token has no PIN; use pin=none for it")
        }
        return .authError
    }
}
