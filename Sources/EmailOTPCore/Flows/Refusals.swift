import EmailOTPCrypto

/// What a flow returns when it does not grant, what the user is told ("" = nothing) and the
/// line that is logged.
struct Refusal: Equatable {
    var result: AuthResult
    var message: String
    var level: LogLevel = .notice
    var line: String = ""

    init(result: AuthResult, message: String, level: LogLevel = .notice, line: String = "") {
        self.result = result
        self.message = message
        self.level = level
        self.line = line
    }
}

/// One place turns every outcome that is not a grant into a PAM result, a user message and a
/// log line, for both flows. `refusal(_:)` is a pure function of the outcome; `refuse(_:user:)`
/// logs it and runs the alert hook (`afterRefusal`).
extension Authenticator {
    /// nil when the trigger opened (or re-used) a challenge, or granted a remembered host.
    func refusal(_ outcome: TriggerOutcome) -> Refusal? {
        switch outcome {
        case .sent, .reused, .remembered: return nil
        case .noToken: return refusal(VerifyOutcome.noToken)
        case .disabled: return refusal(VerifyOutcome.disabled)
        case .locked: return refusal(VerifyOutcome.locked)
        case .wrongPIN: return refusal(VerifyOutcome.wrongPIN)
        case .noPIN: return refusal(VerifyOutcome.noPIN)
        case .rateLimited:
            return Refusal(result: .unavailable, message: Messages.rateLimited, level: .warning,
                           line: "refused: max_mails_per_hour reached, no mail sent")
        }
    }

    /// `transactionID` only names the challenge in the log line.
    func refusal(_ outcome: VerifyOutcome, transactionID: String? = nil) -> Refusal {
        let about = transactionID.map { " (transaction \($0))" } ?? ""
        switch outcome {
        case .granted, .recovered:
            return Refusal(result: .success, message: "")
        case .wrong(let left):
            return Refusal(result: .authError, message: left > 0 ? Messages.wrongCode(triesLeft: left) : Messages.wrongCodeFinal,
                           line: "wrong code\(about), \(Messages.triesLeft(left))")
        case .expired:
            return Refusal(result: .authError, message: Messages.expired, line: "expired code\(about)")
        case .noChallenge:
            return Refusal(result: .authError, message: Messages.noChallenge, line: "no open challenge for the code\(about)")
        // Locked and disabled tokens, and names without a token, answer exactly like a wrong
        // PIN: anything else would confirm to a stranger that the name is enrolled. The log
        // keeps the real reason. With pin=none the stack has checked the first factor already
        // (a key, the Unix password): the person is no stranger, and a lock is said plainly.
        case .locked where pinMode == .none:
            return Refusal(result: .authError, message: Messages.locked,
                           line: "refused: token locked (told: pin=none, the first factor was checked)")
        case .locked:
            return Refusal(result: .authError, message: "", line: "refused: token locked (answered as a wrong PIN)")
        case .disabled:
            return Refusal(result: .authError, message: "", line: "refused: token disabled (answered as a wrong PIN)")
        case .noToken:
            return Refusal(result: .authError, message: "", line: "refused: no token (answered as a wrong PIN)")
        case .wrongPIN:
            return Refusal(result: .authError, message: "", line: "wrong PIN")
        case .noPIN:
            return Refusal(result: .authError, message: "", level: .warning, line: "refused: the token has no PIN; use pin=none for it")
        }
    }

    /// A trigger that threw: the mail failed (its challenge is dropped), or the store did.
    func refusal(triggerError error: Error) -> Refusal {
        if let failure = error as? DeliveryFailure {
            return Refusal(result: .unavailable, message: Messages.mailFailed, level: .error, line: "mail failed: \(failure.reason)")
        }
        return refusal(storeError: error)
    }

    /// A store that could not be read or written (the charge of an attempt included: then
    /// nothing was compared), or a PIN hash that could not be computed (memory): neither says
    /// anything about the answer, and neither is counted as a failure.
    func refusal(storeError error: Error) -> Refusal {
        if error is CryptoFailure {
            return Refusal(result: .serviceError, message: "", level: .error, line: "PIN check failed, nothing counted: \(error)")
        }
        return Refusal(result: .unavailable, message: "", level: .error, line: "store error: \(error)")
    }

    /// Logs `refused` and returns it.
    @discardableResult
    func logged(_ refused: Refusal, user: String) -> Refusal {
        if !refused.line.isEmpty { log(refused.level, user, refused.line) }
        return refused
    }

    /// The refusal of `outcome`, logged, after the alert hook ran.
    @discardableResult
    func refuse(_ outcome: VerifyOutcome, user: String, transactionID: String? = nil) -> Refusal {
        let refused = logged(refusal(outcome, transactionID: transactionID), user: user)
        afterRefusal(outcome, user: user)
        return refused
    }

    /// The refusal of `outcome` (nil when it is none), logged, after the alert hook ran.
    @discardableResult
    func refuse(_ outcome: TriggerOutcome, user: String) -> Refusal? {
        guard let refused = refusal(outcome) else { return nil }
        logged(refused, user: user)
        // Every refusal that answers like a wrong PIN runs the hook (it reads the record): the
        // same work whether the token is usable, locked, disabled, PIN-less or missing.
        if outcome.isPINRefusal { afterRefusal(.wrongPIN, user: user) }
        return refused
    }

    func storeRefusal(_ error: Error, user: String) -> Refusal {
        logged(refusal(storeError: error), user: user)
    }

    /// The alert hook of a refusal: a failure that may have locked the token mails the lockout
    /// alert (once per lock, `alertLockout`).
    func afterRefusal(_ outcome: VerifyOutcome, user: String) {
        if outcome.mayHaveLocked || outcome == .locked { alertLockout(user: user) }
    }
}
