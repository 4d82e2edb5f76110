import CHelperStart
import CShim
import EmailOTPCore
import EmailOTPOwnToken
import Glibc

/// What the helper's `main` does with the kernel, the log and its standard input and output
/// (the decisions are `CallerPolicy`'s): each step that can refuse ends the process through
/// `must`, with one log line and a service error.
struct HelperProcess {
    let caller: HelperCaller
    var logger = HelperLogger()

    init(caller: HelperCaller) {
        self.caller = caller
    }

    /// Who started the helper, as the kernel tells it: its real uid, that uid's name, the
    /// process's groups and the parent's program.
    static func caller() -> HelperCaller {
        let uid = ThisProcess.realUser
        return HelperCaller(uid: uid, name: Account.lookup(uid: uid)?.name, groups: UnixGroup.processGroups(),
                            program: ThisProcess.program(of: ThisProcess.parent))
    }

    /// Root in every id (`setuid(0)` as root sets the real and saved ids too: from here on the
    /// caller cannot signal, stop or kill, the helper), and the first limit still too low.
    static func takeRoot() -> HelperStart {
        guard ThisProcess.effectiveUser == 0 else { return HelperStart(setuidRoot: false) }
        do {
            try ThisProcess.becomeRoot()
        } catch {
            return HelperStart(identityError: (error as? SystemError)?.reason ?? "\(error)")
        }
        return HelperStart(lowLimit: cshim_insufficient_limit().map { String(cString: $0) })
    }

    /// The configuration the admission names (the system's file alone for whoever is not root).
    static func configuration(_ admission: CallerPolicy.Admission) -> Result<Config, Error> {
        Result { try ConfigLoader().load(path: admission.configPath, explicit: admission.configExplicit, overrides: admission.overrides) }
    }

    /// The first frame, within `HelperProtocol.requestTimeout`.
    static func readRequest() -> Result<CallerPolicy.Request, Error> {
        Result {
            switch try HelperProtocol.readFrame(0, until: Deadline(afterSeconds: HelperProtocol.requestTimeout)) {
            case .request(let r): return .login(r)
            case .tokenRequest(let action): return .token(action)
            default: throw HelperProtocol.Refused("the first frame is not a request")
            }
        }
    }

    /// The value, or the refusal logged and the process ended.
    func must<Value, Failure: Error>(_ result: Result<Value, Failure>, _ prefix: String = "") -> Value {
        switch result {
        case .success(let value): return value
        case .failure(let error):
            logger.log(.error, "\(caller.description): \(prefix)\(error)")
            HelperProcess.finish(.serviceError)
        }
    }

    /// One of `uid`'s slots, held until the process ends (the kernel releases it), or the
    /// process ends (all taken).
    func takeSlot(for uid: uid_t, of what: String) {
        guard let slot = CallerSlots.take(for: uid) else {
            let who = uid == caller.uid ? caller.description : "uid \(uid) (\(LogText.printable(Account.lookup(uid: uid)?.name ?? "?")))"
            logger.log(.error, "\(who): refused: \(CallerSlots.maxPerCaller) \(what) are running already")
            HelperProcess.finish(.serviceError)
        }
        slot.keepOpenUntilExit()
    }

    /// The flow the decision names: a PAM login, or a user's verb on their own token.
    func run(_ request: CallerPolicy.Request, _ decision: CallerPolicy.Decision, options: ModuleOptions, config: Config,
             conversation: RelayConversation) -> AuthResult {
        if !config.storeIsDatabase {
            FileStore(directory: config.store, random: OpenSSLRandom(), clock: SystemClock()).removeStaleTemporaries()
        }
        let tagged = TaggedLogger(logger: logger, tag: decision.tag)
        switch request {
        case .login(let login):
            let authenticator = PAMLogin.system(config: config, pinMode: options.pinMode, logger: tagged, context: decision.context)
            return PAMLogin.run(authenticator, options: options, user: decision.user, conversation: conversation, authtok: login.authtok)
        case .token(let action):
            let proof = OwnToken.proofSettings(config)
            return OwnToken(user: decision.user, config: config, authenticator: { mode in
                PAMLogin.system(config: proof, pinMode: mode, logger: tagged, context: decision.context)
            }, conversation: conversation, random: OpenSSLRandom()).run(action)
        }
    }

    /// The result frame and the exit status, after the fail delay when the helper waits it itself
    /// (every login: CallerPolicy), counted from the last answer: a caller that is not root must
    /// not guess faster than a PAM stack with pam_fail_delay, and the caller of su, who can watch
    /// this process in /proc, sees it end at the same time whatever the work after the answer was.
    func finish(_ result: AuthResult, _ decision: CallerPolicy.Decision, config: Config, conversation: RelayConversation) -> Never {
        var delay = PAMLogin.failDelay(after: result, openedChallenge: conversation.openedChallenge, config: config)
        if decision.waitsItself && delay > 0 {
            Deadline(afterMilliseconds: conversation.lastAnswer + delay * 1000 - Monotonic.milliseconds()).sleepUntilPassed()
            delay = 0
        }
        HelperProcess.finish(result, failDelay: delay, openedChallenge: conversation.openedChallenge)
    }

    /// Sends the result frame (when the module still listens) and exits with the result's status.
    static func finish(_ result: AuthResult, failDelay: Int64 = 0, openedChallenge: Bool = false) -> Never {
        HelperProtocol.writeFrame(1, .result(HelperProtocol.Outcome(result: result, failDelay: failDelay, openedChallenge: openedChallenge)),
                                  until: Deadline(afterSeconds: 5))
        ThisProcess.exit(HelperProtocol.status(of: result))
    }
}

/// Syslog lines of the helper, `LOG_AUTHPRIV`, like the module's (no PIN, code or password).
struct HelperLogger: EmailOTPCore.Logger {
    var debug = false
    func log(_ level: LogLevel, _ message: String) {
        guard level != .debug || debug else { return }
        cshim_syslog(level.syslogPriority, message)
    }
}

/// Tags the flow's log lines with who asked, so that the log tells helper logins apart.
struct TaggedLogger: EmailOTPCore.Logger {
    let logger: HelperLogger
    let tag: String
    func log(_ level: LogLevel, _ message: String) {
        logger.log(level, "\(message) \(tag)")
    }
}

/// At most `maxPerCaller` helpers run at once for one caller uid: each holds one of the
/// caller's slot locks in /run/emailotp (released by the kernel however the helper ends).
enum CallerSlots {
    static let directory = "/run/emailotp"
    static let maxPerCaller = 8

    /// The held slot, or nil when all are taken (or the directory is unsafe).
    static func take(for uid: uid_t) -> FileDescriptor? {
        guard (try? SafeFile.ensureDirectory(directory, owner: 0, create: true)) == true else { return nil }
        for slot in 0..<maxPerCaller {
            guard let fd = try? FileDescriptor.open("\(directory)/helper.\(uid).\(slot)", flags: O_RDWR | O_CREAT | O_NONBLOCK) else {
                continue
            }
            if fd.tryLockExclusive() { return fd }
        }
        return nil
    }
}
