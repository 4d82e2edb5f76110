import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPFlows
import EmailOTPMail
import EmailOTPSystem

/// One PAM login over the system's store, clock, randomness and mailer — the composition every
/// caller of the flows uses: the module (in-process), the helper, `emailotp check` and
/// `emailotp enroll --verify` build their `Authenticator` here and run the PAM flows through
/// `run`; the fail delay is decided by `failDelay` alone, and the module's answer before it
/// starts a clean process by `isUnenrolledUnderNullok`.
public enum PAMLogin {
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
            return InteractiveFlow(authenticator).run(user: user, conversation: conversation, nullok: options.nullok,
                                                      stackPIN: stackPIN, firstPass: options.firstPass, authtok: authtok).status
        case .challenge:
            return ChallengeFlow(authenticator).run(user: user, conversation: conversation, nullok: options.nullok,
                                                    stackPIN: stackPIN, firstPass: options.firstPass).status
        }
    }

    /// Seconds to wait after `result` so that guessing costs time (`pam_fail_delay(3)`): real
    /// failures only. The first step of challenge mode is no failure: servers that wait for PAM
    /// (OpenVPN without deferred auth, nginx workers) would stall on it.
    public static func failDelay(after result: AuthResult, openedChallenge: Bool, config: Config) -> Int64 {
        result == .success || result == .ignore || openedChallenge ? 0 : config.failDelay
    }

    /// True only when the user has no token and `nullok` lets the login pass: the decision the
    /// module may take in the application's process, since it only reads (`NullokQuery`: one
    /// record of a file store, no `Authenticator`, no mailer; a database store is never opened
    /// there). Any doubt is false: the full flow then decides, in the clean process.
    public static func isUnenrolledUnderNullok(config: Config, user: String, logger: Logger, context: RequestContext) -> Bool {
        guard !config.storeIsDatabase else { return false }
        return NullokQuery.isUnenrolled(user: user, config: config, store: StoreLocation.open(config, clock: SystemClock(), random: OpenSSLRandom()),
                                        logger: logger, context: context)
    }
}
