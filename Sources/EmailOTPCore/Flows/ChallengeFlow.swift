/// What one step of the two-step flow ended with.
public struct StepReport: Equatable {
    public var result: AuthResult
    /// The challenge that was opened (or re-used) by this step: the first step of the seed's flow.
    public var challenge: Challenge?
    /// What the user is told ("" = nothing).
    public var message: String

    public init(result: AuthResult, challenge: Challenge? = nil, message: String = "") {
        self.result = result
        self.challenge = challenge
        self.message = message
    }

    public var isChallenge: Bool { challenge != nil && result != .success }
}

/// `mode=challenge` and `emailotp check`: the seed's two-step flow, one password per attempt.
/// The password is the PIN (the mail is sent, access denied) or the PIN followed by the code
/// (granted). With `pin=none`, an empty password triggers and the code alone answers.
extension Authenticator {
    public func challengeStep(user: String, password: String, nullok: Bool) -> StepReport {
        if (try? UserName.validate(user)) == nil {
            log(.notice, user, "refused: user name cannot be enrolled")
            return StepReport(result: .userUnknown)
        }
        let existing: TokenRecord?
        do {
            existing = try store.read(user: user)
        } catch {
            log(.error, user, "store error: \(error)")
            return StepReport(result: .unavailable)
        }
        if existing == nil && nullok {
            log(.info, user, "no token, nullok: ignored")
            return StepReport(result: .ignore)
        }
        if rememberedLogin(user: user, pin: pinMode == .none ? nil : password) { return StepReport(result: .success) }  // issue 12
        if pinMode == .none {
            return password.isEmpty ? firstStep(user: user, pin: nil) : secondStep(user: user, code: password, transactionID: nil, pin: nil)
        }
        // Issue 12: PIN + recovery code.
        if let parts = RecoveryCode.split(password), let hash = existing?.pinHash, PINHash.verify(parts.pin, hash: hash) {
            return secondStep(user: user, code: parts.code, transactionID: nil, pin: parts.pin)
        }
        let length = config.otpLength
        // Split on bytes, not Characters: a PIN ending in a combining or prepending scalar must
        // not merge with the first digit of the code. ASCII digits end on a UTF-8 boundary.
        let bytes = Array(password.utf8)
        if bytes.count > length {
            let code = String(decoding: bytes.suffix(length), as: UTF8.self)
            let pin = String(decoding: bytes.dropLast(length), as: UTF8.self)
            // A PIN may itself end in digits: PIN + code is taken only when the part before
            // the code is the PIN; otherwise the whole password is tried as the PIN.
            if code.isASCIIDigits, let hash = existing?.pinHash, PINHash.verify(pin, hash: hash) {
                return secondStep(user: user, code: code, transactionID: nil, pin: pin)
            }
        }
        return firstStep(user: user, pin: password)
    }

    /// `emailotp check --transaction-id T`: the code alone, for that challenge only. The
    /// transaction id stands for the PIN presented in the first step.
    public func answerTransaction(user: String, transactionID: String, code: String) -> StepReport {
        guard transactionID.utf8.count == 20, transactionID.isASCIIDigits else {
            log(.notice, user, "refused: malformed transaction id")
            return StepReport(result: .authError, message: Messages.noChallenge)
        }
        return secondStep(user: user, code: code, transactionID: transactionID, pin: nil)
    }

    func firstStep(user: String, pin: String?) -> StepReport {
        let withPIN = pin != nil
        let outcome: TriggerOutcome
        do {
            outcome = try trigger(user: user, pin: pin)
        } catch {
            return StepReport(refusal(triggerError: error, user: user))
        }
        switch outcome {
        case .sent(let challenge, let email):
            log(.notice, user, "code mailed to \(EmailAddress.masked(email)) (transaction \(challenge.transactionID)), first step denied")
            return StepReport(result: .authError, challenge: challenge,
                              message: Messages.challengeSent(shown(email), validity: config.otpValidity,
                                                              transactionID: challenge.transactionID, withPIN: withPIN))
        case .reused(let challenge, let email):
            log(.notice, user, "open challenge re-used, no mail sent (transaction \(challenge.transactionID))")
            return StepReport(result: .authError, challenge: challenge,
                              message: Messages.challengeReused(shown(email), interval: config.resendInterval,
                                                                transactionID: challenge.transactionID, withPIN: withPIN))
        default:
            return StepReport(refusal(outcome, user: user) ?? Refusal(result: .authError, message: ""))
        }
    }

    func secondStep(user: String, code: String, transactionID: String?, pin: String?) -> StepReport {
        let outcome: VerifyOutcome
        do {
            outcome = try verify(user: user, code: code, transactionID: transactionID, pin: pin)
        } catch {
            return StepReport(storeRefusal(error, user: user))
        }
        if outcome.isGrant {
            log(.notice, user, "granted")
            granted(user: user, outcome: outcome)  // issue 12
            return StepReport(result: .success)
        }
        return StepReport(refusal(outcome, user: user, transactionID: transactionID))
    }
}

extension StepReport {
    init(_ refused: Refusal) {
        self.init(result: refused.result, message: refused.message)
    }
}
