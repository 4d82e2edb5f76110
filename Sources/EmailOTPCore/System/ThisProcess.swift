import CShim
import Glibc

/// This process as the kernel tells it: its ids, its parent, how it was started, and the
/// program of a process.
package enum ThisProcess {
    /// This process's id; `getpid(2)`.
    package static var id: pid_t { getpid() }

    /// The real user id; `getuid(2)`.
    package static var realUser: uid_t { getuid() }

    /// The effective user id; `geteuid(2)`.
    package static var effectiveUser: uid_t { geteuid() }

    /// The effective group id; `getegid(2)`.
    package static var effectiveGroup: gid_t { getegid() }

    /// True when both the real and the effective user id are root.
    package static var isRoot: Bool { getuid() == 0 && geteuid() == 0 }

    /// The parent's process id; `getppid(2)`.
    package static var parent: pid_t { getppid() }

    /// True when the loader started this process with `AT_SECURE` (a setuid, setgid or
    /// capability-raised program); `getauxval(3)`.
    package static var startedSecure: Bool { cshim_at_secure() != 0 }

    /// Root in every id, no supplementary group: as root, `setuid(0)` sets the real and saved
    /// ids too. `setgroups(2)`, `setgid(2)`, `setuid(2)`.
    package static func becomeRoot() throws {
        guard setgroups(0, nil) == 0 else { throw SystemError("setgroups", "") }
        guard setgid(0) == 0 else { throw SystemError("setgid", "") }
        guard setuid(0) == 0 else { throw SystemError("setuid", "") }
    }

    /// The program of process `pid` (this one when nil), printable for a log line, or `?`;
    /// `readlink(2)` of `/proc/PID/exe`.
    package static func program(of pid: pid_t? = nil) -> String {
        let link = pid.map { "/proc/\($0)/exe" } ?? "/proc/self/exe"
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = buffer.withUnsafeMutableBufferPointer { space -> Int in
            guard let base = space.baseAddress else { return -1 }
            return readlink(link, base, space.count - 1)
        }
        guard count > 0 else { return "?" }
        return LogText.printable(String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// Ends the process with `status` (`exit(3)`: atexit handlers and stdio flushed).
    package static func exit(_ status: Int32) -> Never {
        Glibc.exit(status)
    }
}

/// The process's connection to syslog.
package enum SystemLog {
    /// Every later line of this process goes to `LOG_AUTHPRIV` tagged `identifier[PID]`;
    /// `openlog(3)`, which keeps the pointer it is given: only a string literal's storage (a
    /// `StaticString` with a pointer, NUL-terminated) lives as long as the process.
    package static func openAuthPrivate(_ identifier: StaticString) {
        guard identifier.hasPointerRepresentation else { return openlog(nil, LOG_PID, LOG_AUTHPRIV) }
        identifier.utf8Start.withMemoryRebound(to: CChar.self, capacity: identifier.utf8CodeUnitCount + 1) {
            openlog($0, LOG_PID, LOG_AUTHPRIV)
        }
    }
}
