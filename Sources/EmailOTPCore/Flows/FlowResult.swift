import EmailOTPToken

/// What a login ends with, in either flow (`InteractiveFlow`, `ChallengeFlow`), and what each of
/// its steps hands to the next.
public struct FlowResult: Equatable {
    /// The PAM result.
    public var status: AuthResult
    /// The challenge this login opened (or re-used) and left waiting for its code, to be typed
    /// in a later login: the first step of the challenge flow. nil otherwise — an interactive
    /// login asks for the code itself.
    public var challenge: Challenge?
    /// What the user is told ("" = nothing). The PAM flows have shown it through the
    /// conversation; `emailotp check` prints it.
    public var message: String

    /// A refusal of this login is due the lockout alert (`Refusal.alertsLockout`): the flow's
    /// last step runs it (`alertLockout(user:due:)`).
    var alertDue = false
    /// The stacked password (`try_first_pass`) was refused as the PIN: the flow prompts next.
    var deferredMiss: DeferredMiss? = nil

    public init(status: AuthResult, challenge: Challenge? = nil, message: String = "") {
        self.status = status
        self.challenge = challenge
        self.message = message
    }

    /// The end of a step that kept its own `alertDue` (the code prompts, the recovery prompts).
    init(status: AuthResult, alertDue: Bool) {
        self.init(status: status)
        self.alertDue = alertDue
    }

    /// A refusal, as the flow logged it.
    init(_ refused: Refusal) {
        self.init(status: refused.result, message: refused.message)
        alertDue = refused.alertsLockout
    }

    /// The login ended by opening a challenge (denied, no failure): the module asks for no
    /// fail delay after it.
    public var isChallenge: Bool { challenge != nil && status != .success }
}

/// A stacked password tried as the PIN (`try_first_pass`) and refused, with nothing shown and no
/// lockout alert due: the flow prompts for the PIN. `counted`: the miss was charged without
/// locking yet; it is given back when the PIN typed next is right, and settled
/// (`settleDeferredMisses`) when the login ends without one.
struct DeferredMiss: Equatable {
    var counted: Bool
}

/// What the trigger step (`Authenticator.triggered`) hands to the flow: a challenge whose code
/// the flow asks for (interactive) or tells of (challenge), or the end of the login — granted
/// from a remembered host, refused, or a deferred miss.
enum Triggered: Equatable {
    case opened(OpenedChallenge)
    case ended(FlowResult)
}

/// A challenge opened and mailed (`sent`), or re-used with no mail, and the address of its code.
struct OpenedChallenge: Equatable {
    var challenge: Challenge
    var email: String
    var sent: Bool
}
