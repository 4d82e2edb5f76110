import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPFlows
import EmailOTPMail
import EmailOTPSystem

/// The one composition of a login: the module (in-process), the helper (in its clean process),
/// `emailotp check` and `emailotp enroll --verify` all build their `Authenticator` here and
/// run the PAM flows through `run`, and the fail delay is decided by `failDelay` alone.
public enum Login {
    /// The store `config` names, the system clock and randomness, the configured transport.
    public static func system(config: Config, pinMode: PINMode, logger: Logger, context: RequestContext) -> Authenticator {
        let clock = SystemClock()
        let random = OpenSSLRandom()
        return Authenticator(config: config, pinMode: pinMode, store: StoreLocation.open(config, clock: clock, random: random, login: true),
                             clock: clock, random: random, mailer: makeMailer(config, clock: clock, random: random),
                             logger: logger, context: context)
    }

    /// One `pam_sm_authenticate` in `options.mode`. `authtok` is `PAM_AUTHTOK` of the stack:
    /// the flows take it as the PIN only with use_first_pass/try_first_pass (the first-pass
    /// rules live in the flows), and interactive mode always compares code answers with it.
    public static func run(_ authenticator: Authenticator, options: ModuleOptions, user: String,
                           conversation: Conversation, authtok: String?) -> AuthResult {
        // groups and trusted_networks: decided before any store or mail work.
        if authenticator.exemption(user: user) != nil { return .ignore }
        let stackPIN = options.firstPass == .no ? nil : authtok
        switch options.mode {
        case .interactive:
            return authenticator.interactive(user: user, conversation: conversation, nullok: options.nullok,
                                             stackPIN: stackPIN, firstPass: options.firstPass, authtok: authtok)
        case .challenge:
            return authenticator.challenge(user: user, conversation: conversation, nullok: options.nullok,
                                           stackPIN: stackPIN, firstPass: options.firstPass)
        }
    }

    /// Seconds to wait after `result` so that guessing costs time (`pam_fail_delay(3)`): real
    /// failures only. The first step of challenge mode is no failure: servers that wait for PAM
    /// (OpenVPN without deferred auth, nginx workers) would stall on it.
    public static func failDelay(after result: AuthResult, openedChallenge: Bool, config: Config) -> Int64 {
        result == .success || result == .ignore || openedChallenge ? 0 : config.failDelay
    }

    /// True only when the user has no token and `nullok` lets the login pass: the decision the
    /// module may take in the application's process, since it only reads (a file store; a
    /// database store is never opened there). Any doubt (a store error) is false: the full
    /// flow then decides, in the clean process.
    public static func isUnenrolledUnderNullok(_ authenticator: Authenticator, user: String) -> Bool {
        authenticator.isUnenrolledUnderNullok(user: user)
    }
}

/// The conversation of a login that runs in the helper: each question goes to the module over
/// the helper's socket and waits for its answer no longer than `answerTimeout` seconds, so
/// that an application stopped by its caller (SIGSTOP of su) cannot keep the helper, and no
/// store lock is ever held while it waits (the flows hold none across a prompt).
public final class RelayConversation: Conversation, ChallengeAware {
    let input: Int32
    let output: Int32
    let answerTimeout: Int64
    public private(set) var openedChallenge = false
    /// The module stopped answering (end of file, timeout, malformed frame): every later prompt fails at once.
    public private(set) var broken = false
    /// One deadline for every prompt of the login together: each answer is awaited at most
    /// `answerTimeout`, and all of them end `2 × answerTimeout` after the conversation began
    /// (the PIN's prompt, then the code's life), however many prompts there are.
    public let lifetime: Deadline
    /// When the last answer came (or the conversation began): the fail delay counts from here.
    public private(set) var lastAnswer: Int64

    public init(input: Int32, output: Int32, answerTimeout: Int64) {
        self.input = input
        self.output = output
        self.answerTimeout = answerTimeout
        lifetime = Deadline(afterSeconds: 2 * answerTimeout)
        lastAnswer = Monotonic.milliseconds()
    }

    public func prompt(_ text: String, echo: Bool) -> String? {
        guard !broken else { return nil }
        let deadline = Deadline(afterSeconds: answerTimeout).earlier(lifetime)
        guard HelperProtocol.writeFrame(output, .prompt(text, echo: echo), until: deadline) else {
            broken = true
            return nil
        }
        guard case .answer(let answer)? = try? HelperProtocol.readFrame(input, until: deadline) else {
            broken = true
            return nil
        }
        lastAnswer = Monotonic.milliseconds()
        return answer
    }

    public func info(_ text: String) {
        guard !broken else { return }
        if !HelperProtocol.writeFrame(output, .info(text), until: Deadline(afterSeconds: answerTimeout)) { broken = true }
    }

    public func error(_ text: String) {
        guard !broken else { return }
        if !HelperProtocol.writeFrame(output, .error(text), until: Deadline(afterSeconds: answerTimeout)) { broken = true }
    }

    public func challengeOpened() {
        openedChallenge = true
    }
}
