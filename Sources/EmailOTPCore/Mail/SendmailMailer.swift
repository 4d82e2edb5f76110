import EmailOTPSystem
import Glibc

/// Runs `sendmail -t -oi -f SENDER` without a shell, feeding the message on standard input.
/// The message goes through a socket written with `MSG_NOSIGNAL`, so a sendmail that dies early
/// cannot raise SIGPIPE inside sshd or sudo; a sendmail that hangs is killed after the timeout.
public struct SendmailMailer: Mailer {
    let path: String
    let timeout: Int64

    public init(path: String, timeout: Int64) {
        self.path = path
        self.timeout = timeout
    }

    public func send(_ mail: OutgoingMail) throws {
        var sockets: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sockets) == 0 else {
            throw MailError("socketpair: \(SystemError("socketpair", "").description)")
        }
        defer { close(sockets[0]) }
        let pid: pid_t
        do {
            pid = try spawn(stdin: sockets[1], arguments: [path, "-t", "-oi", "-f", mail.from])
        } catch {
            close(sockets[1])
            throw error
        }
        close(sockets[1])
        let deadline = Int64(time(nil)) + timeout
        var writeError: String? = nil
        let bytes = Array(mail.text.utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return Glibc.send(sockets[0], base + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                writeError = SystemError("write to", path).description
                break
            }
            offset += sent
        }
        shutdown(sockets[0], Int32(SHUT_WR))
        let status = wait(pid, until: deadline)
        if let error = writeError { throw MailError(error) }
        switch status {
        case .exited(0): return
        case .exited(let code): throw MailError("\(path) exited with status \(code)")
        case .signaled(let signal): throw MailError("\(path) was killed by signal \(signal)")
        case .timedOut: throw MailError("\(path) did not finish within \(timeout) seconds")
        case .notWaitable(let code): throw MailError("cannot wait for \(path): \(String(cString: strerror(code)))")
        }
    }

    func spawn(stdin: Int32, arguments: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        let environment: [String] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard result == 0 else { throw MailError("cannot run \(path): \(String(cString: strerror(result)))") }
        return pid
    }

    enum Outcome: Equatable {
        case exited(Int32), signaled(Int32), timedOut
        /// `waitpid` failed (ECHILD when the caller reaps children itself): the outcome is unknown.
        case notWaitable(Int32)
    }

    /// Waits for the child without blocking past `deadline`; kills it then.
    func wait(_ pid: pid_t, until deadline: Int64) -> Outcome {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                if status & 0x7F == 0 { return .exited((status >> 8) & 0xFF) }
                return .signaled(status & 0x7F)
            }
            if result < 0 && errno != EINTR { return .notWaitable(errno) }
            if Int64(time(nil)) >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return .timedOut
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
        }
    }
}
