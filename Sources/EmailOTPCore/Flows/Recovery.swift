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
}

extension InteractiveFlow {
    /// The mail-outage fallback of the interactive flow: when the mail of a login whose PIN
    /// was right could not be sent and the user has recovery codes left, ask for one instead
    /// (up to `otp_tries` answers). nil: no fallback, the mail failure stands. The result is
    /// due the lockout alert when one of its refusals was.
    func recoveryFallback(user: String, error: Error, conversation: Conversation) -> FlowResult? {
        guard error is DeliveryFailure, RecoveryFallback.offered(for: try? auth.store.read(user: user)) else { return nil }
        auth.logged(auth.refusal(triggerError: error), user: user)
        auth.log(.notice, user, "mail failed: offering the recovery-code prompt")
        conversation.error(RecoveryFallback.message)
        var alertDue = false
        func ended(_ status: AuthResult) -> FlowResult { FlowResult(status: status, alertDue: alertDue) }
        for _ in 0..<auth.config.otpTries {
            guard let answer = conversation.prompt(RecoveryFallback.prompt, echo: false) else { return ended(.conversationError) }
            guard RecoveryCode.normalized(answer.trimmedBlanks) != nil else {
                // A malformed answer cannot be a guess at a code: it costs a prompt, not a failure.
                conversation.error(RecoveryFallback.notACode)
                continue
            }
            let outcome: VerifyOutcome
            do {
                outcome = try auth.verify(user: user, code: answer.trimmedBlanks, transactionID: Authenticator.recoveryOnly, pin: nil)
            } catch {
                return ended(auth.logged(auth.refusal(storeError: error), user: user).result)
            }
            if outcome.isGrant {
                auth.log(.notice, user, "granted")
                auth.granted(user: user, outcome: outcome)
                return ended(.success)
            }
            let refused = auth.logged(auth.refusal(outcome), user: user)
            alertDue = alertDue || refused.alertsLockout
            if case .wrong = outcome {
                conversation.error(Messages.wrongCodeFinal)
                if (try? auth.store.read(user: user))?.isLocked == true {
                    let locked = auth.logged(auth.refusal(.locked), user: user)
                    alertDue = alertDue || locked.alertsLockout
                    return ended(show(FlowResult(locked), conversation).status)
                }
                continue
            }
            return ended(show(FlowResult(refused), conversation).status)
        }
        return ended(.authError)
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
