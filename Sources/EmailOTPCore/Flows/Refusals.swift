import EmailOTPCrypto

/// What a flow returns when it does not grant, what the user is told ("" = nothing), the
/// line that is logged, and whether the flow ends with the lockout alert hook.
struct Refusal: Equatable {
    var result: AuthResult
    var message: String
    var level: LogLevel = .notice
    var line: String = ""
    /// The refusal may have locked the token (a counted failure), or found it locked, or answers
    /// like a wrong PIN: the flow's last step runs the lockout alert hook (`alertLockout`), which
    /// reads the record — the same work whether the token is usable, locked, disabled, PIN-less
    /// or missing.
    var alertsLockout = false

    init(result: AuthResult, message: String, level: LogLevel = .notice, line: String = "", alertsLockout: Bool = false) {
        self.result = result
        self.message = message
        self.level = level
        self.line = line
        self.alertsLockout = alertsLockout
    }
}

/// One place turns every outcome that is not a grant into a PAM result, a user message, a log
/// line and whether the lockout alert is due, for both flows. Every function here is a pure
/// function of its arguments: the flows log the refusal (`logged`) and end with the alert
/// (`alertLockout(user:due:)`).
extension Authenticator {
    /// nil when the trigger opened (or re-used) a challenge, or granted a remembered host.
    func refusal(_ outcome: TriggerOutcome) -> Refusal? {
        switch outcome {
        case .sent, .reused, .remembered: return nil
        case .rateLimited:
            return Refusal(result: .unavailable, message: Messages.rateLimited, level: .warning,
                           line: "refused: max_mails_per_hour reached, no mail sent")
        case .refused(let pinRefusal):
            // Every refusal that answers like a wrong PIN is due the alert hook, which reads the
            // record: the same work whether the token is usable, locked, disabled, PIN-less or missing.
            var refused = refusal(pinRefusal)
            refused.alertsLockout = true
            return refused
        }
    }

    /// `transactionID` only names the challenge in the log line. A failure that may have locked
    /// the token, and a locked token, are due the alert hook.
    func refusal(_ outcome: VerifyOutcome, transactionID: String? = nil) -> Refusal {
        let about = transactionID.map { " (transaction \($0))" } ?? ""
        var refused: Refusal = {
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
        }()
        refused.alertsLockout = outcome.mayHaveLocked || outcome == .locked
        return refused
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
}
