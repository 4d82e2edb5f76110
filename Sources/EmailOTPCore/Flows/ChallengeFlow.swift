import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPSystem
import EmailOTPToken

/// What one step of the two-step flow ended with.
public struct StepReport: Equatable {
    public var result: AuthResult
    /// The challenge that was opened (or re-used) by this step, when it was the first step.
    public var challenge: Challenge?
    /// What the user is told ("" = nothing).
    public var message: String

    public init(result: AuthResult, challenge: Challenge? = nil, message: String = "") {
        self.result = result
        self.challenge = challenge
        self.message = message
    }

    public var isChallenge: Bool { challenge != nil && result != .success }

    /// A stacked password tried with `try_first_pass` was refused as the PIN: the flow prompts.
    var stackedPINRefused = false
    /// That refusal's miss was counted; it is given back when a right PIN follows.
    var owesMiss = false
    /// A refusal of this step is due the lockout alert (`Refusal.alertsLockout`): the public
    /// flow's last step runs it.
    var alertDue = false
}

/// `mode=challenge` and `emailotp check`: the two-step flow for clients that send one password
/// per attempt (pam_emailotp(8), OPTIONS, mode=challenge).
/// The password is the PIN (the mail is sent, access denied) or the PIN followed by the code
/// (granted). With `pin=none`, an empty password triggers and the code alone answers.
extension Authenticator {
    public func challengeStep(user given: String, password: String, nullok: Bool) -> StepReport {
        let opened: OpenedLogin
        switch openLogin(user: given, nullok: nullok) {
        case .failure(let result): return StepReport(result: result)
        case .success(let login): opened = login
        }
        let report = opened.enrolling ? enrolAnswer(user: opened.user, password: password)
            : answer(user: opened.user, password: password)
        alertLockout(user: opened.user, due: report.alertDue)
        return report
    }

    /// `mode=challenge` in the module: one password, from the stack (`use_first_pass`,
    /// `try_first_pass`) or the prompt, after the shared opening (so `nullok` is decided before
    /// any prompt). With `try_first_pass` a stacked password that is not the PIN leads to the
    /// prompt; its miss is counted unless the password typed there holds the right PIN.
    public func challenge(user given: String, conversation: Conversation, nullok: Bool,
                          stackPIN: String?, firstPass: FirstPass) -> AuthResult {
        let opened: OpenedLogin
        switch openLogin(user: given, nullok: nullok) {
        case .failure(let result): return result
        case .success(let login): opened = login
        }
        let report = opened.enrolling
            ? enrolChallenge(user: opened.user, conversation: conversation, stackPIN: stackPIN, firstPass: firstPass)
            : challengeSteps(user: opened.user, conversation: conversation, stackPIN: stackPIN, firstPass: firstPass)
        let result = show(report, conversation)
        alertLockout(user: opened.user, due: report.alertDue)
        return result
    }

    /// The password from the stack or the prompt, answered (`answer`); the caller shows the report.
    func challengeSteps(user: String, conversation: Conversation, stackPIN: String?, firstPass: FirstPass) -> StepReport {
        var pendingMisses = 0
        switch (firstPass, stackPIN) {
        case (.use, nil):
            return StepReport(result: noStackedPassword(user: user))
        case (.use, let token?):
            return answer(user: user, password: token)
        case (.try, let token?) where pinMode == .token:
            let report = answer(user: user, password: token, deferMiss: true)
            guard report.stackedPINRefused else { return report }
            pendingMisses = report.owesMiss ? 1 : 0
        case (.try, let token?):
            return answer(user: user, password: token)
        default:
            break
        }
        guard let typed = conversation.prompt(config.pinPrompt, echo: false) else {
            var report = StepReport(result: .conversationError)
            report.alertDue = settleDeferredMisses(user: user, pendingMisses)
            return report
        }
        // With pin=none an empty password is the first step; with a PIN it is no answer.
        if pinMode == .token && isNoAnswer(typed) {
            var report = StepReport(result: .conversationError)
            report.alertDue = settleDeferredMisses(user: user, pendingMisses)
            report.result = noAnswer(user: user, at: "password")
            return report
        }
        return answer(user: user, password: typed, pendingMisses: pendingMisses)
    }

    func show(_ report: StepReport, _ conversation: Conversation) -> AuthResult {
        if report.isChallenge { (conversation as? ChallengeAware)?.challengeOpened() }
        if !report.message.isEmpty {
            if report.isChallenge { conversation.info(report.message) } else { conversation.error(report.message) }
        }
        return report.result
    }

    /// One password of an opened login: the PIN (trigger) or the PIN followed by the code,
    /// decided in one attempt (`attempt`, `.password`): the PIN candidates are compared only
    /// once the attempt is charged.
    func answer(user: String, password: String, deferMiss: Bool = false, pendingMisses: Int = 0) -> StepReport {
        if pinMode == .none {
            if rememberedLogin(user: user) { return StepReport(result: .success) }
            return password.isEmpty ? firstStep(user: user, pin: nil) : secondStep(user: user, code: password, transactionID: nil, pin: nil)
        }
        let outcome: AttemptOutcome
        let code: String
        do {
            (outcome, code) = try attempt(user: user, .password(password), deferMiss: deferMiss,
                                          refunds: pendingMisses, remembered: true)
        } catch {
            return StepReport(logged(refusal(storeError: error), user: user))
        }
        switch outcome {
        case .cachedGrant:
            // A client re-sending a granted PIN + code (pam_emailotp(8), Challenge mode) is
            // answered before the open challenges are tried, so it costs none of their tries.
            log(.notice, user, "granted from auth_cache")
            return StepReport(result: .success)
        case .verify(let verified) where !verified.isGrant:
            // One reply for every wrong password, whichever of its PIN candidates was the PIN
            // (a wrong code, no code waiting, an expired one): the same as a wrong PIN, so that
            // a password tested as several PINs says nothing of which one matched. The log
            // keeps the reason.
            var report = StepReport(logged(refusal(verified), user: user))
            report.message = ""
            return report
        case .verify(let verified):
            let report = secondStepReport(user: user, verified, transactionID: nil)
            // A recovery code is for a mail outage, and single-use in every sense: never cached.
            if verified == .granted { rememberGrant(user: user, password: password) }
            return report
        case .trigger(let opened):
            let delivered: TriggerOutcome
            do {
                delivered = try deliver(opened, user: user, code: code, finish: Messages.mailFinish(withPIN: true))
            } catch {
                return StepReport(logged(refusal(triggerError: error), user: user))
            }
            return firstStepReport(user: user, delivered, withPIN: true, deferMiss: deferMiss)
        }
    }

    /// `password` cut before its last `otp_length` bytes when those are ASCII digits.
    func digitSplit(_ password: String) -> (pin: String, code: String)? {
        let length = config.otpLength
        // Split on bytes, not Characters: a PIN ending in a combining or prepending scalar must
        // not merge with the first digit of the code. ASCII digits end on a UTF-8 boundary.
        let bytes = Array(password.utf8)
        guard bytes.count > length else { return nil }
        let code = String(decoding: bytes.suffix(length), as: UTF8.self)
        guard code.isASCIIDigits else { return nil }
        return (String(decoding: bytes.dropLast(length), as: UTF8.self), code)
    }

    /// `emailotp check --transaction-id T`: the code alone, for that challenge only. The
    /// transaction id stands for the PIN presented in the first step.
    public func answerTransaction(user: String, transactionID: String, code: String) -> StepReport {
        guard transactionID.utf8.count == 20, transactionID.isASCIIDigits else {
            log(.notice, user, "refused: malformed transaction id")
            return StepReport(result: .authError, message: Messages.noChallenge)
        }
        let report = secondStep(user: user, code: code, transactionID: transactionID, pin: nil)
        alertLockout(user: user, due: report.alertDue)
        return report
    }

    func firstStep(user: String, pin: String?, deferMiss: Bool = false, pendingMisses: Int = 0) -> StepReport {
        let outcome: TriggerOutcome
        do {
            outcome = try trigger(user: user, pin: pin, deferMiss: deferMiss, pendingMisses: pendingMisses,
                                  finish: Messages.mailFinish(withPIN: pin != nil))
        } catch {
            return StepReport(logged(refusal(triggerError: error), user: user))
        }
        return firstStepReport(user: user, outcome, withPIN: pin != nil, deferMiss: deferMiss)
    }

    func firstStepReport(user: String, _ outcome: TriggerOutcome, withPIN: Bool, deferMiss: Bool) -> StepReport {
        if deferMiss && outcome.isPINRefusal {
            // Logged only: the prompt that follows decides, and a lock waits for it.
            var report = StepReport(logged(refusal(outcome) ?? Refusal(result: .authError, message: ""), user: user))
            report.alertDue = false
            report.stackedPINRefused = true
            report.owesMiss = outcome == .wrongPIN
            return report
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
        case .remembered:
            logRememberedGrant(user: user, trustedNetwork: fromTrustedNetwork)
            return StepReport(result: .success)
        default:
            return StepReport(logged(refusal(outcome) ?? Refusal(result: .authError, message: ""), user: user))
        }
    }

    func secondStep(user: String, code: String, transactionID: String?, pin: String?) -> StepReport {
        let outcome: VerifyOutcome
        do {
            outcome = try verify(user: user, code: code, transactionID: transactionID, pin: pin)
        } catch {
            return StepReport(logged(refusal(storeError: error), user: user))
        }
        return secondStepReport(user: user, outcome, transactionID: transactionID)
    }

    func secondStepReport(user: String, _ outcome: VerifyOutcome, transactionID: String?) -> StepReport {
        if outcome.isGrant {
            log(.notice, user, "granted")
            granted(user: user, outcome: outcome)
            return StepReport(result: .success)
        }
        return StepReport(logged(refusal(outcome, transactionID: transactionID), user: user))
    }
}

extension StepReport {
    init(_ refused: Refusal) {
        self.init(result: refused.result, message: refused.message)
        alertDue = refused.alertsLockout
    }
}
