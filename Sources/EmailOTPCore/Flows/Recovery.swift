import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPToken

/// Recovery codes in the flows (pam_emailotp(8)): accepted wherever a mailed code is, and offered
/// instead of the mail when the mail cannot be sent.
extension TokenRecord {
    /// Answers with a recovery code (`canonical`, see `RecoveryCode.normalized`) under the
    /// store lock, after the caller checked state and PIN. A match is used up and grants, and
    /// the challenges it answered are gone; a miss counts like a wrong code: one failure, one
    /// try of each challenge it was checked against.
    mutating func answerRecovery(_ canonical: String, open: [Challenge], now: Int64, config: Config) -> VerifyOutcome {
        if let index = RecoveryCode.match(canonical, hashes: recoveryHashes) {
            recoveryHashes.remove(at: index)
            challenges.removeAll { candidate in open.contains { $0.transactionID == candidate.transactionID } }
            registerSuccess()
            return .recovered(left: recoveryHashes.count)
        }
        registerFailure(now: now, config: config)
        var left = 0
        for candidate in open {
            guard let index = challenges.firstIndex(where: { $0.transactionID == candidate.transactionID }) else { continue }
            challenges[index].triesLeft -= 1
            left = max(left, challenges[index].triesLeft)
            if challenges[index].triesLeft <= 0 { challenges.remove(at: index) }
        }
        return .wrong(triesLeft: isLocked ? 0 : left)
    }
}

extension VerifyOutcome {
    /// A right mailed code or a right recovery code.
    public var isGrant: Bool {
        switch self {
        case .granted, .recovered: return true
        default: return false
        }
    }
}

extension Authenticator {
    /// No challenge has an empty transaction id: only the recovery codes can match.
    static let recoveryOnly = ""

    /// The mail-outage fallback of the interactive flow: when the mail of a login whose PIN
    /// was right could not be sent and the user has recovery codes left, ask for one instead
    /// (up to `otp_tries` answers). nil: no fallback, the mail failure stands.
    func recoveryFallback(user: String, error: Error, conversation: Conversation) -> AuthResult? {
        guard error is DeliveryFailure, RecoveryFallback.offered(for: try? store.read(user: user)) else { return nil }
        _ = refusal(triggerError: error, user: user)
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
                return storeRefusal(error, user: user).result
            }
            if outcome.isGrant {
                log(.notice, user, "granted")
                granted(user: user, outcome: outcome)
                return .success
            }
            if case .wrong = outcome {
                _ = refusal(outcome, user: user)
                conversation.error(Messages.wrongCodeFinal)
                if (try? store.read(user: user))?.isLocked == true { return show(refusal(.locked, user: user), conversation) }
                continue
            }
            return show(refusal(outcome, user: user), conversation)
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
