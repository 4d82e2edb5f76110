import CHelperStart
import CShim
import EmailOTPOwnToken
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
// - a program asking for the login of the very user it runs as (a screen locker), without
//   helper_group, as unix_chkpwd serves pam_unix for the caller's own password;
// - `emailotp` run by a user on their own token (`emailotp-helper token`), for the user of the
//   real uid alone.
// Who may ask what is CallerPolicy's to decide. The helper runs the whole flow (both modes, the
// mail too) and relays the conversation over its standard input and output (HelperProtocol).

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

/// The account name of a uid (`getpwuid_r(3)` through `Account`), nil when it has none.
func accountName(of uid: uid_t) -> String? {
    Account.lookup(uid: uid)?.name
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

/// Parse, decide, run, finish — like unix_chkpwd's main.
func main() -> Never {
    sanitizeProcess()
    openlog("emailotp-helper", LOG_PID, LOG_AUTHPRIV)
    let caller = HelperCaller(uid: getuid(), name: accountName(of: getuid()), groups: UnixGroup.processGroups())
    var logger = HelperLogger()
    let who = caller.description
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
    // A limit the caller lowered and that could not be raised again would let it end the
    // helper in the middle of the flow: nothing is evaluated then.
    if let limit = cshim_insufficient_limit() {
        logger.log(.error, "\(who): refused: \(String(cString: limit)) is below what a login needs and cannot be raised "
            + "(a hard limit lowered by the caller, and no CAP_SYS_RESOURCE)")
        finish(.serviceError)
    }

    let admission: CallerPolicy.Admission
    switch CallerPolicy.admit(caller: caller, arguments: Array(CommandLine.arguments.dropFirst())) {
    case .success(let admitted): admission = admitted
    case .failure(let refusal):
        logger.log(.error, "\(who): \(refusal)")
        finish(.serviceError)
    }
    logger.debug = admission.options.debug
    let config: Config
    do {
        config = try ConfigLoader().load(path: admission.configPath, explicit: admission.configExplicit, overrides: admission.overrides)
    } catch {
        logger.log(.error, "\(who): configuration refused: \(error)")
        finish(.serviceError)
    }
    // Taken before the request is read: the caller's surplus helpers end at once.
    var slot: FileDescriptor? = nil
    if !caller.isRoot {
        slot = CallerSlots.take(for: caller.uid)
        guard slot != nil else {
            logger.log(.error, "\(who): refused: \(CallerSlots.maxPerCaller) helpers of this caller are running already")
            finish(.serviceError)
        }
    }
    let request: CallerPolicy.Request
    do {
        switch try HelperProtocol.readFrame(0, until: Deadline(afterSeconds: HelperProtocol.requestTimeout)) {
        case .request(let r): request = .login(r)
        case .tokenRequest(let action): request = .token(action)
        default: throw HelperProtocol.Refused("the first frame is not a request")
        }
    } catch {
        logger.log(.error, "\(who): refused request: \(error)")
        finish(.serviceError)
    }
    let decision: CallerPolicy.Decision
    switch CallerPolicy.decide(admission, caller: caller, helperGroup: config.helperGroup, request: request) {
    case .success(let decided): decision = decided
    case .failure(let refusal):
        logger.log(.error, "\(who): \(refusal)")
        finish(.serviceError)
    }
    // A login of root's service: its clean process is bounded per application user as well.
    if let uid = decision.slotUID {
        slot = CallerSlots.take(for: uid)
        guard slot != nil else {
            logger.log(.error, "uid \(uid) (\(LogText.printable(accountName(of: uid) ?? "?"))): refused: "
                + "\(CallerSlots.maxPerCaller) logins of this user are running already")
            finish(.serviceError)
        }
    }

    if !config.storeIsDatabase {
        FileStore(directory: config.store, random: OpenSSLRandom(), clock: SystemClock()).removeStaleTemporaries()
    }
    let tag = caller.isRoot ? decision.tag : "\(decision.tag) application \(program(of: getppid()))"
    var context = RequestContext(service: decision.service, rhost: decision.rhost, quiet: decision.quiet)
    // The source failures are counted for (PAM_TTY, PAM_RUSER); a caller that is not root only claims it.
    if case .login(let login) = request {
        context.tty = login.tty
        context.ruser = caller.isRoot ? login.ruser : "\(login.ruser) (claimed by uid \(caller.uid))"
    }
    // A code is worth waiting for as long as it lives, no longer.
    let conversation = RelayConversation(input: 0, output: 1, answerTimeout: min(max(config.otpValidity, 60), 900))
    let result: AuthResult
    switch request {
    case .login(let login):
        let authenticator = Login.system(config: config, pinMode: admission.options.pinMode,
                                         logger: TaggedLogger(logger: logger, tag: tag), context: context)
        result = Login.run(authenticator, options: admission.options, user: decision.user, conversation: conversation,
                           authtok: login.authtok)
    case .token(let action):
        let proof = OwnToken.proofSettings(config)
        let own = OwnToken(user: decision.user, config: config, authenticator: { mode in
            Login.system(config: proof, pinMode: mode, logger: TaggedLogger(logger: logger, tag: tag), context: context)
        }, conversation: conversation, random: OpenSSLRandom())
        result = own.run(action)
    }
    var delay = Login.failDelay(after: result, openedChallenge: conversation.openedChallenge, config: config)
    // The helper waits out the fail delay itself (every login: CallerPolicy), counted from the last
    // answer: a caller that is not root must not guess faster than a PAM stack with
    // pam_fail_delay, and the caller of su, who can watch this process in /proc, sees it end
    // at the same time whatever the work after the answer was.
    if decision.waitsItself && delay > 0 {
        Deadline(afterMilliseconds: conversation.lastAnswer + delay * 1000 - Monotonic.milliseconds()).sleepUntilPassed()
        delay = 0
    }
    withExtendedLifetime(slot) {}
    finish(result, failDelay: delay, openedChallenge: conversation.openedChallenge)
}

main()
