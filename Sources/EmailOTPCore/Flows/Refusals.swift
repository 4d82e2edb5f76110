
/// What a flow returns when it does not grant, and what the user is told ("" = nothing).
struct Refusal: Equatable {
    var result: AuthResult
    var message: String
}

/// One place turns every outcome that is not a grant into a PAM result, a user message and a
/// log line, for both flows.
extension Authenticator {
    /// nil when the trigger opened (or re-used) a challenge.
    func refusal(_ outcome: TriggerOutcome, user: String) -> Refusal? {
        switch outcome {
        case .sent, .reused: return nil
        case .noToken: return refusal(VerifyOutcome.noToken, user: user)
        case .disabled: return refusal(VerifyOutcome.disabled, user: user)
        case .locked: return refusal(VerifyOutcome.locked, user: user)
        case .wrongPIN: return refusal(VerifyOutcome.wrongPIN, user: user)
        case .noPIN: return refusal(VerifyOutcome.noPIN, user: user)
        case .rateLimited:
            log(.warning, user, "refused: max_mails_per_hour reached, no mail sent")
            return Refusal(result: .unavailable, message: Messages.rateLimited)
        }
    }

    /// A trigger that threw: the mail failed (its challenge is dropped), or the store did.
    func refusal(triggerError error: Error, user: String) -> Refusal {
        if let failure = error as? DeliveryFailure {
            log(.error, user, "mail failed: \(failure.reason)")
            return Refusal(result: .unavailable, message: Messages.mailFailed)
        }
        return storeRefusal(error, user: user)
    }

    func storeRefusal(_ error: Error, user: String) -> Refusal {
        log(.error, user, "store error: \(error)")
        return Refusal(result: .unavailable, message: "")
    }

    /// `transactionID` only names the challenge in the log line.
    func refusal(_ outcome: VerifyOutcome, user: String, transactionID: String? = nil) -> Refusal {
        let about = transactionID.map { " (transaction \($0))" } ?? ""
        if outcome.mayHaveLocked { alertLockout(user: user) }  // issue 12
        switch outcome {
        case .granted, .recovered:
            return Refusal(result: .success, message: "")
        case .wrong(let left):
            log(.notice, user, "wrong code\(about), \(Messages.triesLeft(left))")
            return Refusal(result: .authError, message: left > 0 ? Messages.wrongCode(triesLeft: left) : Messages.wrongCodeFinal)
        case .expired:
            log(.notice, user, "expired code\(about)")
            return Refusal(result: .authError, message: Messages.expired)
        case .noChallenge:
            log(.notice, user, "no open challenge for the code\(about)")
            return Refusal(result: .authError, message: Messages.noChallenge)
        // Locked and disabled tokens answer exactly like a wrong PIN: anything else would
        // confirm to a stranger that the name is enrolled. The log keeps the real reason. With
        // pin=none the stack has checked the first factor already (a key, the Unix password):
        // the person is no stranger, and is told plainly.
        case .locked where pinMode == .none:
            log(.notice, user, "refused: token locked (told: pin=none, the first factor was checked)")
            return Refusal(result: .authError, message: Messages.locked)
        case .locked:
            log(.notice, user, "refused: token locked (answered as a wrong PIN)")
            return Refusal(result: .authError, message: "")
        case .disabled:
            log(.notice, user, "refused: token disabled (answered as a wrong PIN)")
            return Refusal(result: .authError, message: "")
        case .noToken:
            log(.notice, user, "refused: no token")
            return Refusal(result: .userUnknown, message: "")
        case .wrongPIN:
            log(.notice, user, "wrong PIN")
            return Refusal(result: .authError, message: "")
        case .noPIN:
            log(.warning, user, "refused: the token has no PIN; use pin=none for it")
            return Refusal(result: .authError, message: "")
        }
    }
}
