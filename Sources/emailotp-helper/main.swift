import CShim
import EmailOTPCore
import Glibc

// emailotp-helper: mode=challenge for PAM applications that do not run as root (pam_emailotp(8), Challenge mode), in
// the manner of pam_unix's unix_chkpwd. Installed setuid root; the module execs it with the
// request on standard input (HelperProtocol). It reads only /etc/security/emailotp.conf, serves
// only members of helper_group, and runs the module's own challenge flow on the module's store.

/// Syslog lines of the helper, `LOG_AUTHPRIV`, like the module's (no PIN, code or password).
struct HelperLogger: EmailOTPCore.Logger {
    var debug = false
    func log(_ level: LogLevel, _ message: String) {
        guard level != .debug || debug else { return }
        cshim_syslog(level.syslogPriority, message)
    }
}

/// Everything an unprivileged caller could hand down beyond the request goes first: the
/// environment (locale, proxies, TZ, OPENSSL_CONF, ...), open descriptors, the umask, the
/// signals a terminal could send while a record is written.
func sanitizeProcess() {
    _ = clearenv()
    _ = umask(0o077)
    for fd in Int32(0)...2 where fcntl(fd, F_GETFD) == -1 {
        let null = open("/dev/null", O_RDWR)
        if null >= 0 && null != fd { _ = dup2(null, fd); _ = close(null) }
    }
    cshim_closefrom(3)
    for signal in [SIGINT, SIGQUIT, SIGTSTP, SIGHUP, SIGPIPE] { _ = Glibc.signal(signal, SIG_IGN) }
}

func finish(_ result: AuthResult, message: String = "", isInfo: Bool = false) -> Never {
    let line = HelperProtocol.messageLine(message, isInfo: isInfo)
    var rest = Array(line.utf8)[...]
    while !rest.isEmpty {
        let n = rest.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        rest = rest.dropFirst(n)
    }
    exit(HelperProtocol.status(of: result))
}

/// Reads the request from standard input: at most four fields of 4 KiB.
func readRequest() -> [UInt8]? {
    var bytes = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return nil }
        if n == 0 { return bytes }
        bytes += chunk.prefix(n)
        if bytes.count > 4 * 4097 { return nil }
    }
}

func userName(of uid: uid_t) -> String {
    guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "?" }
    return LogText.printable(String(cString: name))
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
    // setuid(0) as root sets the real and saved ids too: from here on the caller cannot signal (stop or kill) the helper in the middle of a write.
    guard setgroups(0, nil) == 0, setgid(0) == 0, setuid(0) == 0 else {
        logger.log(.error, "\(who): cannot drop the caller's identity: \(String(cString: strerror(errno)))")
        finish(.serviceError)
    }

    let arguments = Array(CommandLine.arguments.dropFirst())
    guard arguments.first == HelperProtocol.verb else {
        logger.log(.error, "\(who): usage: emailotp-helper challenge [module arguments] (request on stdin)")
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
    if caller != 0 {
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
        config = try ConfigLoader().load(path: ConfigLoader.defaultPath)
    } catch {
        logger.log(.error, "\(who): configuration refused: \(error)")
        finish(.serviceError)
    }
    if caller != 0 {
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
    }
    guard let bytes = readRequest() else {
        logger.log(.error, "\(who): unreadable or oversized request")
        finish(.serviceError)
    }
    let request: HelperProtocol.Request
    do {
        request = try HelperProtocol.decode(bytes)
    } catch {
        logger.log(.error, "\(who): refused request: \(error)")
        finish(.serviceError)
    }
    let context = RequestContext(service: request.service, rhost: request.rhost)
    let clock = SystemClock()
    let random = OpenSSLRandom()
    let authenticator = Authenticator(config: config, pinMode: options.pinMode,
                                      store: StoreLocation.open(config, clock: clock, random: random), clock: clock,
                                      random: random, mailer: makeMailer(config, clock: clock, random: random),
                                      logger: ViaHelper(logger: logger, caller: caller), context: context)
    let report = authenticator.challengeStep(user: request.user, password: request.password, nullok: options.nullok)
    // The helper, not the caller, waits after a failure: a caller running it in a loop
    // must not guess faster than a PAM stack with pam_fail_delay.
    if report.result != .success && report.result != .ignore && !report.isChallenge && config.failDelay > 0 {
        _ = sleep(UInt32(config.failDelay))
    }
    finish(report.result, message: report.message, isInfo: report.isChallenge)
}

/// Tags the flow's log lines with the caller, so that the log tells helper logins apart.
struct ViaHelper: EmailOTPCore.Logger {
    let logger: HelperLogger
    let caller: uid_t
    func log(_ level: LogLevel, _ message: String) {
        logger.log(level, "\(message) (via helper, caller uid \(caller))")
    }
}

main()
