import CShim
import Glibc

/// `CLOCK_MONOTONIC` in milliseconds: the clock of every wait (a changed wall clock moves no deadline).
package enum Monotonic {
    package static func milliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

/// A point on the monotonic clock after which a wait gives up.
public struct Deadline {
    public let milliseconds: Int64

    public init(afterMilliseconds delay: Int64) {
        milliseconds = Monotonic.milliseconds() + max(0, delay)
    }

    public init(afterSeconds seconds: Int64) {
        self.init(afterMilliseconds: seconds * 1000)
    }

    /// The point `milliseconds` of `Monotonic.milliseconds()`.
    package init(monotonic milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// Milliseconds left, never below 0.
    public var remaining: Int64 { max(0, milliseconds - Monotonic.milliseconds()) }
    public var hasPassed: Bool { remaining == 0 }

    /// `remaining`, cut to what `poll(2)` takes.
    var pollTimeout: Int32 { Int32(clamping: min(remaining, 60_000)) }

    /// The earlier of the two.
    public func earlier(_ other: Deadline) -> Deadline { milliseconds <= other.milliseconds ? self : other }

    /// Sleeps until the deadline has passed (signals do not cut the wait short).
    public func sleepUntilPassed() {
        while !hasPassed {
            var wait = timespec(tv_sec: Int(remaining / 1000), tv_nsec: Int(remaining % 1000) * 1_000_000)
            _ = nanosleep(&wait, nil)
        }
    }
}

/// Waiting for a descriptor to be ready (`poll(2)`): libpq's socket, a child's pipe.
package enum Readiness {
    /// What the wait is for.
    package struct Events: OptionSet {
        package let rawValue: Int16
        package init(rawValue: Int16) { self.rawValue = rawValue }
        package static let readable = Events(rawValue: Int16(POLLIN))
        package static let writable = Events(rawValue: Int16(POLLOUT))
    }

    /// Waits until `fd` is ready for one of `events` (an error or hang-up on it counts as
    /// ready: the next read or write tells) or `deadline` has passed: true when ready, false
    /// at the deadline. A signal does not cut the wait short (`EINTR`: it goes on for what is
    /// left); a `poll` that fails otherwise throws `SystemError` about `what`.
    package static func wait(_ fd: Int32, for events: Events, until deadline: Deadline, what: String) throws -> Bool {
        var descriptor = pollfd(fd: fd, events: events.rawValue, revents: 0)
        while true {
            let ready = poll(&descriptor, 1, deadline.pollTimeout)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { throw SystemError("poll", what) }
            if deadline.hasPassed { return false }
        }
    }
}

/// How a child process ended, decoded from `waitpid(2)`'s status.
package enum ChildStatus: Equatable {
    case exited(Int32)
    case signaled(Int32)
    /// Still running at the deadline: its process group was killed.
    case timedOut
    /// `waitpid` failed (ECHILD when the application reaps children itself): the outcome is unknown.
    case notWaitable(Int32)

    /// `WIFEXITED`/`WEXITSTATUS`/`WTERMSIG`, macros Swift does not import.
    init(waitStatus status: Int32) {
        self = status & 0x7F == 0 ? .exited((status >> 8) & 0xFF) : .signaled(status & 0x7F)
    }
}

/// Whose ids a child takes.
package enum ChildIdentity {
    /// The parent's.
    case inherited
    /// Another account's, in every id (address_command).
    case account(uid: uid_t, gid: gid_t, groups: [gid_t])
    /// Root in every id, no supplementary group, the personality reset before exec: the clean
    /// process of a setuid application (pam_emailotp(8), PROCESS MODEL). The helper it runs
    /// resets the rest on itself (limits, umask; CShim/helper/start.c).
    case cleanRoot
}

/// One child process of the module, the helper or the command: started by `cshim_spawn` (a new
/// session, every signal at its default, only the given descriptors), waited for on the
/// monotonic clock.
package struct ChildProcess {
    package let pid: pid_t
    package let path: String

    /// Starts `path` with `arguments` (argv[1...]) and exactly `environment`; `stdin` and
    /// `stdout` are descriptors of the parent (-1: /dev/null), standard error is /dev/null.
    package static func spawn(_ path: String, arguments: [String], environment: [String],
                             stdin: Int32 = -1, stdout: Int32 = -1,
                             as identity: ChildIdentity = .inherited) throws -> ChildProcess {
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var groups: [gid_t] = []
        var request = cshim_spawn_request()
        request.stdin_fd = stdin
        request.stdout_fd = stdout
        switch identity {
        case .inherited:
            break
        case .account(let uid, let gid, let list):
            request.set_ids = 1
            request.uid = uid
            request.gid = gid
            groups = list
        case .cleanRoot:
            request.set_ids = 1
            request.reset_personality = 1
        }
        let pid: pid_t = path.withCString { cPath in
            argv.withUnsafeBufferPointer { argvBuffer in
                envp.withUnsafeBufferPointer { envpBuffer in
                    groups.withUnsafeBufferPointer { groupBuffer in
                        request.path = cPath
                        request.argv = argvBuffer.baseAddress
                        request.envp = envpBuffer.baseAddress
                        request.groups = groupBuffer.baseAddress
                        request.ngroups = groupBuffer.count
                        return cshim_spawn(&request)
                    }
                }
            }
        }
        guard pid > 0 else { throw SystemError("fork for", path, code: -pid) }
        return ChildProcess(pid: pid, path: path)
    }

    /// Waits for the child until `deadline`; past it, kills its process group and reaps it.
    package func wait(until deadline: Deadline) -> ChildStatus {
        var status: Int32 = 0
        var pause: Int = 1_000_000
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return ChildStatus(waitStatus: status) }
            if result < 0 && errno != EINTR { return .notWaitable(errno) }
            if deadline.hasPassed {
                killGroup()
                _ = waitpid(pid, &status, 0)
                return .timedOut
            }
            var nap = timespec(tv_sec: 0, tv_nsec: min(pause, Int(deadline.remaining) * 1_000_000))
            nanosleep(&nap, nil)
            pause = min(pause * 2, 20_000_000)
        }
    }

    /// SIGKILL to the child's process group (its own session: nothing else is in it).
    package func killGroup() {
        _ = kill(-pid, SIGKILL)
    }
}

/// Runs `body` with SIGCHLD at its default disposition. Applications that reap every child in
/// a SIGCHLD handler (nginx) or ignore SIGCHLD would take the status of the module's children
/// away from `waitpid`; pam_unix does the same around unix_chkpwd.
package func keepingChildStatus<T>(_ body: () throws -> T) rethrows -> T {
    var previous = sigaction()
    var defaultAction = sigaction()
    defaultAction.__sigaction_handler.sa_handler = SIG_DFL
    sigemptyset(&defaultAction.sa_mask)
    let swapped = sigaction(SIGCHLD, &defaultAction, &previous) == 0
    defer { if swapped { _ = sigaction(SIGCHLD, &previous, nil) } }
    return try body()
}

/// Reading and writing the descriptors of a child (a pipe or a socket) against a deadline.
package enum ChildIO {
    /// A connected pair of close-on-exec `AF_UNIX` stream sockets: writes to one never raise
    /// SIGPIPE in the writer (`MSG_NOSIGNAL`), whatever the application did with the signal.
    package static func socketPair() throws -> (FileDescriptor, FileDescriptor) {
        var ends: [Int32] = [-1, -1]
        guard cshim_socketpair_cloexec(&ends) == 0 else { throw SystemError("socketpair", "") }
        return (FileDescriptor(raw: ends[0], path: "socket"), FileDescriptor(raw: ends[1], path: "socket"))
    }

    /// A close-on-exec pipe: (read end, write end).
    package static func pipe() throws -> (FileDescriptor, FileDescriptor) {
        var ends: [Int32] = [-1, -1]
        guard cshim_pipe_cloexec(&ends) == 0 else { throw SystemError("pipe2", "") }
        return (FileDescriptor(raw: ends[0], path: "pipe"), FileDescriptor(raw: ends[1], path: "pipe"))
    }

    /// Writes all of `bytes` before `deadline`; false when the other end went away, failed or
    /// the deadline passed. Sockets are written with `MSG_NOSIGNAL`.
    @discardableResult
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8], until deadline: Deadline) -> Bool {
        var offset = 0
        var isSocket = true
        while offset < bytes.count {
            let sent: Int = bytes.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return 0 }
                if isSocket {
                    let n = Glibc.send(fd, base + offset, buffer.count - offset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                    if n < 0 && errno == ENOTSOCK { isSocket = false } else { return n }
                }
                return Glibc.write(fd, base + offset, buffer.count - offset)
            }
            if sent > 0 {
                offset += sent
                continue
            }
            if sent < 0 && errno == EINTR { continue }
            guard sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), !deadline.hasPassed else { return false }
            _ = try? Readiness.wait(fd, for: .writable, until: deadline, what: "")
        }
        return true
    }

    package enum Read: Equatable {
        case bytes([UInt8])
        case end
        case timedOut
        case failed(Int32)
    }

    /// One read of at most `count` bytes, waiting no longer than `deadline`.
    package static func read(_ fd: Int32, upTo count: Int, until deadline: Deadline) -> Read {
        var chunk = [UInt8](repeating: 0, count: max(1, count))
        while true {
            do {
                guard try Readiness.wait(fd, for: .readable, until: deadline, what: "") else { return .timedOut }
            } catch let error as SystemError {
                return .failed(error.code)
            } catch {
                return .failed(EIO)
            }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .failed(errno)
            }
            if n == 0 { return .end }
            return .bytes(Array(chunk.prefix(n)))
        }
    }

    /// Exactly `count` bytes, or nil at end of file, failure or the deadline.
    package static func readExactly(_ fd: Int32, _ count: Int, until deadline: Deadline) -> [UInt8]? {
        var out = [UInt8]()
        while out.count < count {
            guard case .bytes(let part) = read(fd, upTo: count - out.count, until: deadline) else { return nil }
            out += part
        }
        return out
    }

    /// Everything up to end of file, the deadline, or one byte past `limit`.
    package static func readAll(_ fd: Int32, limit: Int, until deadline: Deadline) -> (bytes: [UInt8], timedOut: Bool) {
        var out = [UInt8]()
        while out.count <= limit {
            switch read(fd, upTo: 4096, until: deadline) {
            case .bytes(let part): out += part
            case .timedOut: return (out, true)
            case .end, .failed: return (out, false)
            }
        }
        return (out, false)
    }
}
