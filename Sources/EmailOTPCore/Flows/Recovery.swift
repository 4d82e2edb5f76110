import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPToken

/// Recovery codes in the flows (pam_emailotp(8)): accepted wherever a mailed code is (`attempt`
/// checks them), and offered instead of the mail when the mail cannot be sent.
extension VerifyOutcome {
    /// A right mailed code or a right recovery code.
    public var isGrant: Bool {
        switch self {
        case .granted, .recovered: return true
        default: return false
        }
    }

    /// Granted by a recovery code.
    var isRecovery: Bool {
        if case .recovered = self { return true }
        return false
    }
}

extension Authenticator {
    /// No challenge has an empty transaction id: only the recovery codes can match.
    static let recoveryOnly = ""

    /// The mail-outage fallback of the interactive flow: when the mail of a login whose PIN
    /// was right could not be sent and the user has recovery codes left, ask for one instead
    /// (up to `otp_tries` answers). nil: no fallback, the mail failure stands. `alertDue` is set
    /// when a refusal is due the lockout alert, the flow's last step.
    func recoveryFallback(user: String, error: Error, conversation: Conversation, alertDue: inout Bool) -> AuthResult? {
        guard error is DeliveryFailure, RecoveryFallback.offered(for: try? store.read(user: user)) else { return nil }
        logged(refusal(triggerError: error), user: user)
        log(.notice, user, "mail failed: offering the recovery-code prompt")
        conversation.error(RecoveryFallback.message)
        for _ in 0..<config.otpTries {
            guard let answer = conversation.prompt(RecoveryFallback.prompt, echo: false) else { return .conversationError }
            guard RecoveryCode.normalized(answer.trimmedBlanks) != nil else {
                // A malformed answer cannot be a guess at a code: it costs a prompt, not a failure.
                conversation.error(RecoveryFallback.notACode)
                continue
            }
            let outcome: VerifyOutcome
            do {
                outcome = try verify(user: user, code: answer.trimmedBlanks, transactionID: Self.recoveryOnly, pin: nil)
            } catch {
                return logged(refusal(storeError: error), user: user).result
            }
            if outcome.isGrant {
                log(.notice, user, "granted")
                granted(user: user, outcome: outcome)
                return .success
            }
            let refused = logged(refusal(outcome), user: user)
            alertDue = alertDue || refused.alertsLockout
            if case .wrong = outcome {
                conversation.error(Messages.wrongCodeFinal)
                if (try? store.read(user: user))?.isLocked == true {
                    let locked = logged(refusal(.locked), user: user)
                    alertDue = alertDue || locked.alertsLockout
                    return show(locked, conversation)
                }
                continue
            }
            return show(refused, conversation)
        }
        return .authError
    }
}

/// When the fallback is offered, and what it says.
public enum RecoveryFallback {
    public static let prompt = "Recovery code: "
    public static let message = "The code could not be sent by email. Enter one of your recovery codes instead."
    public static let notACode = "That is not a recovery code (10 letters and digits, like abcde-12345)."

    /// Only a token that could log in with a recovery code: enabled, unlocked, with codes left.
    public static func offered(for record: TokenRecord?) -> Bool {
        guard let r = record else { return false }
        return r.enabled && !r.isLocked && !r.recoveryHashes.isEmpty
    }
}
