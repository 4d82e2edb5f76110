import CPAM
import EmailOTPCore
import Glibc

/// Only root can read the configuration and the store; challenge mode elsewhere goes
/// through the setuid helper.
func needsHelper(_ options: ModuleOptions) -> Bool {
    options.mode == .challenge && geteuid() != 0
}

/// The module's challenge step when the process is not root: the password as root's path
/// would take it (`PAM_AUTHTOK` with use/try_first_pass, else one prompt), then the helper.
func helperChallenge(session: PAMSession, options: ModuleOptions, arguments: [String], user: String) -> AuthResult {
    var password: String
    if options.firstPass != .no, let token = session.item(PAM_AUTHTOK) {
        password = token
    } else if options.firstPass == .use {
        session.log(.notice, "use_first_pass given but no earlier module set a password")
        return .authError
    } else {
        // The configured pin_prompt is in root's file; applications that need the helper
        // answer any prompt with the password they were given.
        guard let answer = session.prompt(Config().pinPrompt, echo: false) else { return .conversationError }
        password = answer
    }
    defer { password = "" }
    return challengeThroughHelper(session: session, options: options, arguments: arguments, user: user, password: password)
}

/// `mode=challenge` in a process that is not root (a web application, an nginx worker): the
/// module cannot read root's configuration and store, so the setuid helper does the step
///. Settings then come from /etc/security/emailotp.conf only; the helper refuses
/// `config=` and `key=value` arguments, and logs why.
func challengeThroughHelper(session: PAMSession, options: ModuleOptions, arguments: [String],
                            user: String, password: String) -> AuthResult {
    let request = HelperProtocol.Request(user: user, service: session.item(PAM_SERVICE) ?? "",
                                         rhost: session.item(PAM_RHOST) ?? "", password: password)
    // The arguments this side acts on stay here; the helper sees the rest and judges them.
    let forwarded = arguments.filter {
        !$0.hasPrefix("helper=") && !$0.hasPrefix("mode=") && $0 != "use_first_pass" && $0 != "try_first_pass"
    }
    guard let run = runHelper(options.helperPath, arguments: [HelperProtocol.verb] + forwarded,
                              input: HelperProtocol.encode(request), session: session) else {
        return .serviceError
    }
    if let message = HelperProtocol.parseMessage(run.output) {
        if message.isInfo { session.info(message.text) } else { session.error(message.text) }
    }
    return HelperProtocol.result(ofStatus: run.status)
}

/// Runs the helper with an empty environment, `input` on its standard input; returns its exit
/// status and first 4 KiB of standard output, or nil (logged) when it could not run or died.
func runHelper(_ path: String, arguments: [String], input: [UInt8],
               session: PAMSession) -> (status: Int32, output: [UInt8])? {
    var toChild: [Int32] = [-1, -1]
    var fromChild: [Int32] = [-1, -1]
    guard cloexecPipe(&toChild) else {
        session.log(.error, "helper \(path): pipe: \(String(cString: strerror(errno)))")
        return nil
    }
    guard cloexecPipe(&fromChild) else {
        session.log(.error, "helper \(path): pipe: \(String(cString: strerror(errno)))")
        _ = close(toChild[0]); _ = close(toChild[1])
        return nil
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
    posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))

    // Applications that reap every child in a SIGCHLD handler (nginx does) would take the
    // helper's status away from waitpid; pam_unix does the same around unix_chkpwd.
    var previous = sigaction()
    var defaultAction = sigaction()
    defaultAction.__sigaction_handler.sa_handler = SIG_DFL
    sigemptyset(&defaultAction.sa_mask)
    let swapped = sigaction(SIGCHLD, &defaultAction, &previous) == 0
    defer { if swapped { _ = sigaction(SIGCHLD, &previous, nil) } }

    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let envp: [UnsafeMutablePointer<CChar>?] = [nil]
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    _ = close(toChild[0])
    _ = close(fromChild[1])
    guard spawned == 0 else {
        session.log(.error, "cannot run the helper \(path): \(String(cString: strerror(spawned))) "
            + "(mode=challenge in a process that is not root needs it; install.sh installs it)")
        _ = close(toChild[1]); _ = close(fromChild[0])
        return nil
    }
    // The request is far smaller than a pipe buffer: writing it all before reading cannot block.
    var rest = input[...]
    while !rest.isEmpty {
        let n = rest.withUnsafeBytes { write(toChild[1], $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        rest = rest.dropFirst(n)
    }
    _ = close(toChild[1])
    var output = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 1024)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fromChild[0], $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        if output.count < 4096 { output += chunk.prefix(n) }
    }
    _ = close(fromChild[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else {
            session.log(.error, "helper \(path): waitpid: \(String(cString: strerror(errno)))")
            return nil
        }
    }
    // WIFEXITED / WEXITSTATUS are macros Swift does not import.
    guard status & 0x7F == 0 else {
        session.log(.error, "helper \(path) died of signal \(status & 0x7F)")
        return nil
    }
    return ((status >> 8) & 0xFF, output)
}

/// `pipe(2)` with both ends close-on-exec, so that other children of the application do not
/// inherit them (Swift's Glibc module does not export pipe2).
func cloexecPipe(_ fds: inout [Int32]) -> Bool {
    guard pipe(&fds) == 0 else { return false }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return true
}
