import CShim
import EmailOTPConfig
import EmailOTPSystem
import Glibc

/// Why `address_command` gave no address; the mail is not sent.
public struct AddressCommandError: Error, CustomStringConvertible, Equatable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "address_command: \(reason)" }
}

/// `address_command`, in the manner of sshd's `AuthorizedKeysCommand`: for a token enrolled
/// without an address, a root-owned program that no one else can change is run without a
/// shell, as `address_command_user`, with the user name as its only argument and a fixed
/// environment; its one line of output, checked like any address, is where the code goes.
/// Anything else — a failure, a timeout, two lines, too much output — gives no address.
public struct AddressCommand {
    public static let maxOutput = 1024
    static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]

    let path: String
    let runAs: String
    let timeout: Int64

    public init(config: Config) {
        path = config.addressCommand
        runAs = config.addressCommandUser
        timeout = config.addressCommandTimeout
    }

    public func address(for user: String) throws -> String {
        guard !path.isEmpty else { throw AddressCommandError("the token has no address and address_command is not set") }
        let program = try Self.trustedProgram(path)
        let account = try Self.account(runAs)
        var ends: [Int32] = [-1, -1]
        guard cshim_pipe_cloexec(&ends) == 0 else { throw AddressCommandError(SystemError("pipe2", "").description) }
        let reader = FileDescriptor(raw: ends[0], path: "address_command output")
        let arguments: [String] = [program, user]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = Self.environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let pid: pid_t = account.groups.withUnsafeBufferPointer { groups in
            cshim_spawn_as(program, argv, envp, account.uid, account.gid, groups.baseAddress, groups.count, ends[1])
        }
        close(ends[1])
        guard pid > 0 else { throw AddressCommandError("cannot run \(program): \(String(cString: strerror(-pid)))") }
        let deadline = Self.monotonicMilliseconds() + timeout * 1000
        let output = Self.read(reader, until: deadline)
        if output.timedOut || output.bytes.count > Self.maxOutput {
            kill(-pid, SIGKILL)
        }
        let status = Self.wait(pid, until: deadline)
        if output.timedOut || status == nil {
            throw AddressCommandError("\(program) did not finish within \(timeout) seconds and was killed")
        }
        if output.bytes.count > Self.maxOutput {
            throw AddressCommandError("\(program) printed more than \(Self.maxOutput) bytes")
        }
        if let code = status, code != 0 {
            throw AddressCommandError(code > 0 ? "\(program) exited with status \(code)" : "\(program) was killed by signal \(-code)")
        }
        return try Self.address(fromOutput: output.bytes, program: program)
    }

    /// The output must be one address on one line: an optional final LF, nothing else.
    public static func address(fromOutput bytes: [UInt8], program: String) throws -> String {
        var line = bytes
        if line.last == 0x0A { line.removeLast() }
        if line.isEmpty { throw AddressCommandError("\(program) printed no address") }
        if line.contains(0x0A) { throw AddressCommandError("\(program) printed more than one line") }
        if line.contains(0x0D) { throw AddressCommandError("\(program) printed a carriage return") }
        guard let text = String(validating: line, as: UTF8.self) else {
            throw AddressCommandError("\(program) printed bytes that are not UTF-8")
        }
        guard EmailAddress.isValid(text) else {
            throw AddressCommandError("\(program) printed \"\(LogText.printable(text))\", which is not a plain mail address")
        }
        return text
    }

    /// The program and every directory above it must be root's and writable by no one else
    /// (sshd's rule for AuthorizedKeysCommand); symbolic links are resolved first.
    public static func trustedProgram(_ path: String) throws -> String {
        guard ByteText.hasPrefix(path, "/") else { throw AddressCommandError("\(path) is not an absolute path") }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(path, &buffer) != nil else { throw AddressCommandError(SystemError("realpath", path).description) }
        let resolved = String(cString: buffer)
        var info = stat()
        guard stat(resolved, &info) == 0 else { throw AddressCommandError(SystemError("stat", resolved).description) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw AddressCommandError("\(resolved) is not a regular file") }
        guard info.st_mode & 0o111 != 0 else { throw AddressCommandError("\(resolved) is not executable") }
        try checkOwner(resolved, info)
        var directory = resolved
        while let slash = directory.utf8.lastIndex(of: 0x2F) {
            directory = slash == directory.startIndex ? "/" : String(directory[..<slash])
            guard stat(directory, &info) == 0 else { throw AddressCommandError(SystemError("stat", directory).description) }
            try checkOwner(directory, info)
            if directory == "/" { break }
        }
        return resolved
    }

    static func checkOwner(_ path: String, _ info: stat) throws {
        guard info.st_uid == 0 else { throw AddressCommandError("\(path) is not owned by root") }
        guard info.st_mode & 0o022 == 0 else { throw AddressCommandError("\(path) is writable by group or others") }
    }

    struct Account {
        var uid: uid_t
        var gid: gid_t
        var groups: [gid_t]
    }

    static func account(_ name: String) throws -> Account {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: 16384)
        let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil else {
            throw AddressCommandError("address_command_user \(LogText.printable(name)) does not exist")
        }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, entry.pw_gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(max(count, 1)))
            guard getgrouplist(name, entry.pw_gid, &groups, &count) >= 0 else {
                throw AddressCommandError("cannot list the groups of \(LogText.printable(name))")
            }
        }
        return Account(uid: entry.pw_uid, gid: entry.pw_gid, groups: Array(groups.prefix(Int(count))))
    }

    /// Reads until end of file, the deadline, or one byte past the output limit.
    static func read(_ fd: FileDescriptor, until deadline: Int64) -> (bytes: [UInt8], timedOut: Bool) {
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count <= maxOutput {
            let left = deadline - monotonicMilliseconds()
            if left <= 0 { return (out, true) }
            var poller = pollfd(fd: fd.raw, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(left, 60_000)))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd.raw, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return (out, false) }
            out.append(contentsOf: chunk[0..<count])
        }
        return (out, false)
    }

    /// The exit status (a negative signal number when killed), or nil when the process was
    /// still running at the deadline: then its whole process group is killed.
    static func wait(_ pid: pid_t, until deadline: Int64) -> Int32? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                return status & 0x7F == 0 ? (status >> 8) & 0xFF : -(status & 0x7F)
            }
            if result < 0 && errno != EINTR { return -SIGKILL }
            if monotonicMilliseconds() >= deadline {
                kill(-pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return nil
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
    }

    static func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
