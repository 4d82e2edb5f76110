import CHelperStart
import CShim
import EmailOTPCore
import Glibc

// emailotp-helper: the login of pam_emailotp outside the application's process (pam_emailotp(8),
// PROCESS MODEL), in the manner of pam_unix's unix_chkpwd. Installed setuid root. Two callers:
// - the module in a setuid application (su, sudo, chfn): its clean child execs the helper as
//   root in every id, with an empty environment and the system's limits. Real uid 0: only root
//   starts it so, and it may take the module's arguments (config=, key=value, pin=none).
// - an application that is not root (a web application, an nginx worker) runs it directly:
//   members of helper_group only, settings from /etc/security/emailotp.conf only, its service
//   and remote host labelled as claimed and its grants kept apart from root's services.
// Either way the helper runs the whole flow (both modes, the mail too) and relays the
// conversation over its standard input and output (HelperProtocol).

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

/// Whatever the caller handed down goes, again (the constructor in CShim/helper did it first
/// when started setuid): the environment, descriptors beyond 0-2, the umask, signal
/// dispositions and mask, resource limits. SIGPIPE is ignored: the caller may close its end.
func sanitizeProcess() {
    _ = clearenv()
    for fd in Int32(0)...2 where fcntl(fd, F_GETFD) == -1 {
        let null = open("/dev/null", O_RDWR)
        if null >= 0 && null != fd { _ = dup2(null, fd); _ = close(null) }
    }
    cshim_closefrom(3)
    cshim_reset_signals()
    if geteuid() == 0 { cshim_reset_limits() }
    _ = umask(0o077)
    _ = signal(SIGPIPE, SIG_IGN)
}

var resultSent = false

/// Sends the result frame (when the module still listens) and exits with the result's status.
func finish(_ result: AuthResult, failDelay: Int64 = 0, openedChallenge: Bool = false) -> Never {
    if !resultSent {
        resultSent = true
        HelperProtocol.writeFrame(1, .result(HelperProtocol.Outcome(result: result, failDelay: failDelay, openedChallenge: openedChallenge)),
                                  until: Deadline(afterSeconds: 5))
    }
    exit(HelperProtocol.status(of: result))
}

func userName(of uid: uid_t) -> String {
    guard let account = Account.lookup(uid: uid) else { return "?" }
    return LogText.printable(account.name)
}

/// The program of a process, for the log (`/proc/PID/exe`).
func program(of pid: pid_t) -> String {
    var buffer = [CChar](repeating: 0, count: 4097)
    let n = readlink("/proc/\(pid)/exe", &buffer, 4096)
    guard n > 0 else { return "?" }
    return LogText.printable(String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self))
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
            if flock(fd.raw, LOCK_EX | LOCK_NB) == 0 { return fd }
        }
        return nil
    }
}

func main() -> Never {
    sanitizeProcess()
    openlog("emailotp-helper", LOG_PID, LOG_AUTHPRIV)
    let caller = getuid()
    let callerGroups = UnixGroup.processGroups()
    var logger = HelperLogger()
    let who = "caller uid \(caller) (\(userName(of: caller)))"
    guard geteuid() == 0 else {
        logger.log(.error, "\(who): emailotp-helper is not setuid root (install.sh installs it mode 4755 root)")
        finish(.serviceError)
    }
    // setuid(0) as root sets the real and saved ids too: from here on the caller cannot signal
    // (stop or kill) the helper.
    guard setgroups(0, nil) == 0, setgid(0) == 0, setuid(0) == 0 else {
        logger.log(.error, "\(who): cannot drop the caller's identity: \(String(cString: strerror(errno)))")
        finish(.serviceError)
    }
    // Started with real uid 0: by the module's clean child (or root itself), never by the caller.
    let trusted = caller == 0
    // A limit the caller lowered and that could not be raised again would let it end the
    // helper in the middle of the flow: nothing is evaluated then.
    if let limit = cshim_insufficient_limit() {
        logger.log(.error, "\(who): refused: \(String(cString: limit)) is below what a login needs and cannot be raised "
            + "(a hard limit lowered by the caller, and no CAP_SYS_RESOURCE)")
        finish(.serviceError)
    }

    let arguments = Array(CommandLine.arguments.dropFirst())
    guard arguments.first == HelperProtocol.verb else {
        logger.log(.error, "\(who): usage: emailotp-helper \(HelperProtocol.verb) [module arguments] (the module's protocol on stdin/stdout)")
        finish(.serviceError)
    }
    let options: ModuleOptions
    do {
        options = try ModuleOptions(arguments: Array(arguments.dropFirst()))
    } catch {
        logger.log(.error, "\(who): bad module arguments: \(error)")
        finish(.serviceError)
    }
    logger.debug = options.debug
    // A caller-chosen configuration, store or template would let it read root's files through
    // the mail, or skip the rules: for a caller that is not root, settings come from
    // /etc/security/emailotp.conf alone. pin=none would trust a first factor nobody checked.
    if !trusted {
        if options.configExplicit || !options.overrides.isEmpty {
            let given = options.configExplicit ? "config=" : "\(options.overrides[0].key)="
            logger.log(.error, "\(who): refused argument \(given): the helper reads only \(ConfigLoader.defaultPath); "
                + "put settings there, not on the module line of a service that does not run as root")
            finish(.serviceError)
        }
        if options.pinMode == .none {
            logger.log(.error, "\(who): refused pin=none: the helper cannot see the first factor of the caller's stack; use pin=token")
            finish(.serviceError)
        }
    }
    let config: Config
    do {
        config = trusted
            ? try ConfigLoader().load(path: options.configPath, explicit: options.configExplicit, overrides: options.overrides)
            : try ConfigLoader().load(path: ConfigLoader.defaultPath)
    } catch {
        logger.log(.error, "\(who): configuration refused: \(error)")
        finish(.serviceError)
    }
    var slot: FileDescriptor? = nil
    if !trusted {
        guard !config.helperGroup.isEmpty else {
            logger.log(.error, "\(who): refused: helper_group is not set in \(ConfigLoader.defaultPath); "
                + "set helper_group = GROUP and add the application's user to that group to let it use pam_emailotp")
            finish(.serviceError)
        }
        guard let gid = UnixGroup.id(of: config.helperGroup) else {
            logger.log(.error, "\(who): refused: helper_group \(config.helperGroup) is not a group on this host")
            finish(.serviceError)
        }
        guard callerGroups.contains(gid) else {
            logger.log(.error, "\(who): refused: not a member of helper_group \(config.helperGroup) "
                + "(\(ConfigLoader.defaultPath)); add the application's user to that group")
            finish(.serviceError)
        }
        slot = CallerSlots.take(for: caller)
        guard slot != nil else {
            logger.log(.error, "\(who): refused: \(CallerSlots.maxPerCaller) helpers of this caller are running already")
            finish(.serviceError)
        }
    }
    let request: HelperProtocol.Request
    do {
        guard case .request(let r) = try HelperProtocol.readFrame(0, until: Deadline(afterSeconds: HelperProtocol.requestTimeout)) else {
            throw HelperProtocol.Refused("the first frame is not a request")
        }
        request = r
    } catch {
        logger.log(.error, "\(who): refused request: \(error)")
        finish(.serviceError)
    }
    // A login of root's service: its clean process is bounded per application user as well.
    if trusted && request.callerUID != 0 {
        slot = CallerSlots.take(for: request.callerUID)
        guard slot != nil else {
            logger.log(.error, "uid \(request.callerUID) (\(userName(of: request.callerUID))): refused: "
                + "\(CallerSlots.maxPerCaller) logins of this user are running already")
            finish(.serviceError)
        }
    }
    let context: RequestContext
    let tag: String
    if trusted {
        context = RequestContext(service: request.service, rhost: request.rhost, quiet: request.quiet)
        tag = "(clean process for uid \(request.callerUID), application \(LogText.printable(request.program)))"
    } else {
        // The service and remote host are the caller's word: labelled so in the log and the
        // mail, and (inside the keys of auth_cache and remembered hosts) never those of root's services.
        let label = "claimed by uid \(caller) (\(userName(of: caller)))"
        context = RequestContext(service: "\(request.service.isEmpty ? "login" : request.service) (\(label))",
                                 rhost: request.rhost.isEmpty ? "" : "\(request.rhost) (claimed)", quiet: request.quiet)
        tag = "(via helper, caller uid \(caller)) application \(program(of: getppid()))"
    }
    if !config.storeIsDatabase {
        FileStore(directory: config.store, random: OpenSSLRandom(), clock: SystemClock()).removeStaleTemporaries()
    }
    let authenticator = Login.system(config: config, pinMode: options.pinMode,
                                     logger: TaggedLogger(logger: logger, tag: tag), context: context)
    // A code is worth waiting for as long as it lives, no longer.
    let conversation = RelayConversation(input: 0, output: 1, answerTimeout: min(max(config.otpValidity, 60), 900))
    let result = Login.run(authenticator, options: options, user: request.user, conversation: conversation,
                           authtok: request.authtok)
    var delay = Login.failDelay(after: result, openedChallenge: conversation.openedChallenge, config: config)
    // The helper waits out the fail delay itself, for every caller, counted from the last
    // answer: a caller that is not root must not guess faster than a PAM stack with
    // pam_fail_delay, and the caller of su, who can watch this process in /proc, sees it end
    // at the same time whatever the work after the answer was.
    if delay > 0 {
        Deadline(afterMilliseconds: conversation.lastAnswer + delay * 1000 - Monotonic.milliseconds()).sleepUntilPassed()
        delay = 0
    }
    withExtendedLifetime(slot) {}
    finish(result, failDelay: delay, openedChallenge: conversation.openedChallenge)
}

main()
