import Glibc

/// What a file opened by `SafeFile` must look like before it is trusted.
package struct FilePolicy {
    /// The owner the file must have (root for everything the module reads).
    package var owner: uid_t
    /// Permission bits that must be clear, e.g. `0o022` (not group/other-writable).
    package var forbiddenModeBits: mode_t
    /// Files larger than this are refused.
    package var maxSize: Int

    package init(owner: uid_t, forbiddenModeBits: mode_t, maxSize: Int) {
        self.owner = owner
        self.forbiddenModeBits = forbiddenModeBits
        self.maxSize = maxSize
    }
}

/// The owner and group a file is given.
package struct FileOwner: Equatable {
    package var uid: uid_t
    package var gid: gid_t

    package init(uid: uid_t, gid: gid_t) {
        self.uid = uid
        self.gid = gid
    }
}

/// Why a file was not trusted.
package enum FileTrustError: Error, CustomStringConvertible, Equatable {
    case notRegular(String)
    case wrongOwner(String, uid_t)
    case badMode(String, mode_t)
    case tooLarge(String)
    case notDirectory(String)

    package var description: String {
        switch self {
        case .notRegular(let path): return "\(path) is not a regular file"
        case .wrongOwner(let path, let uid): return "\(path) is owned by uid \(uid), not by the expected owner"
        case .badMode(let path, let mode): return "\(path) has mode \(String(mode & 0o7777, radix: 8)), which gives group or others access"
        case .tooLarge(let path): return "\(path) is too large"
        case .notDirectory(let path): return "\(path) is not a directory"
        }
    }
}

/// An open file descriptor, closed when the value is released.
package final class FileDescriptor {
    /// -1 once closed.
    package private(set) var raw: Int32
    package let path: String

    package init(raw: Int32, path: String) {
        self.raw = raw
        self.path = path
    }

    deinit { closeNow() }

    /// Closes the descriptor before the object goes (a child's end of a pipe, once spawned).
    package func closeNow() {
        if raw >= 0 { close(raw) }
        raw = -1
    }

    /// Runs `body`, then closes the descriptor however `body` ends: what the descriptor holds
    /// (an `flock` lock) is held exactly for `body`'s scope.
    package func closeAfter<R>(_ body: () throws -> R) rethrows -> R {
        defer { closeNow() }
        return try body()
    }

    /// Leaves the descriptor open for the rest of the process, whatever becomes of this object:
    /// what it holds (a lock) is released by the kernel when the process ends.
    package func keepOpenUntilExit() {
        raw = -1
    }

    /// Opens `path` without following a final symbolic link (unless `followingLinks`) and without
    /// inheriting across exec (`open(2)` with `O_NOFOLLOW|O_CLOEXEC|O_NOCTTY`).
    package static func open(_ path: String, flags: Int32, mode: mode_t = 0o600, followingLinks: Bool = false) throws -> FileDescriptor {
        let all = flags | (followingLinks ? 0 : O_NOFOLLOW) | O_CLOEXEC | O_NOCTTY
        let raw = try retryingEINTR("open", path) { Glibc.open(path, all, mode) }
        return FileDescriptor(raw: raw, path: path)
    }

    /// `fstat(2)`.
    package func status() throws -> stat {
        var info = stat()
        try retryingEINTR("fstat", path) { fstat(raw, &info) }
        return info
    }

    /// Checks type, owner, mode and size against `policy`.
    package func check(_ policy: FilePolicy, directory: Bool = false) throws -> stat {
        let info = try status()
        let type = info.st_mode & S_IFMT
        if directory {
            guard type == S_IFDIR else { throw FileTrustError.notDirectory(path) }
        } else {
            guard type == S_IFREG else { throw FileTrustError.notRegular(path) }
            guard info.st_size >= 0, Int(info.st_size) <= policy.maxSize else { throw FileTrustError.tooLarge(path) }
        }
        guard info.st_uid == policy.owner else { throw FileTrustError.wrongOwner(path, info.st_uid) }
        guard info.st_mode & policy.forbiddenModeBits == 0 else { throw FileTrustError.badMode(path, info.st_mode) }
        return info
    }

    /// Reads the whole file, at most `limit` bytes (`read(2)`).
    package func readAll(limit: Int) throws -> [UInt8] {
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try chunk.withUnsafeMutableBytes { buffer in
                try retryingEINTR("read", path) { read(raw, buffer.baseAddress, buffer.count) }
            }
            if count == 0 { return out }
            out.append(contentsOf: chunk[0..<count])
            if out.count > limit { throw FileTrustError.tooLarge(path) }
        }
    }

    /// Writes all of `bytes` (`write(2)`).
    package func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = try bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return buffer.count }
                return try retryingEINTR("write", path) { write(raw, base + offset, buffer.count - offset) }
            }
            offset += written
        }
    }

    /// `fchown(2)`.
    package func own(_ owner: FileOwner) throws {
        try retryingEINTR("fchown", path) { fchown(raw, owner.uid, owner.gid) }
    }

    /// `fsync(2)`.
    package func sync() throws {
        try retryingEINTR("fsync", path) { fsync(raw) }
    }

    /// A descriptor of this process's standard input of its own (`dup(2)`), closed with the value.
    package static func duplicateStandardInput() throws -> FileDescriptor {
        FileDescriptor(raw: try retryingEINTR("dup", "-") { dup(STDIN_FILENO) }, path: "-")
    }

    /// Ends the writing direction of a socket: the reader sees end of file (`shutdown(2)`, `SHUT_WR`).
    package func shutdownWriting() {
        _ = shutdown(raw, Int32(SHUT_WR))
    }

    /// `flock(2)` with `LOCK_EX|LOCK_NB`: true when the lock is now held, false when another holds it.
    package func tryLockExclusive() -> Bool {
        flock(raw, LOCK_EX | LOCK_NB) == 0
    }

    /// Opens `path` (`flags`, made with mode 0600 under `O_CREAT`), takes its exclusive lock
    /// within `seconds` (`lockExclusive`) and returns the descriptor that holds it: released
    /// when the descriptor is closed, at the end of a `closeAfter`.
    package static func locked(_ path: String, flags: Int32, within seconds: Int64) throws -> FileDescriptor {
        let fd = try open(path, flags: flags)
        try fd.lockExclusive(within: seconds)
        return fd
    }

    /// `flock(2)` with `LOCK_EX`, waiting at most `seconds` for another holder to let go.
    /// flock has no timed form; a module may not take SIGALRM (signal dispositions belong to
    /// the application) nor start a thread to interrupt the wait, and `F_OFD_SETLKW` has no
    /// timeout either. So it retries `LOCK_NB` against a monotonic deadline (a clock change
    /// cannot stretch it), at intervals growing from 1 ms to 20 ms: a free lock costs one call,
    /// a released one at most 20 ms more. Throws `LockTimeout` past the deadline.
    package func lockExclusive(within seconds: Int64) throws {
        let deadline = Deadline(afterSeconds: seconds)
        var pause: Int64 = 1
        while true {
            if flock(raw, LOCK_EX | LOCK_NB) == 0 { return }
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else { throw SystemError("flock", path, code: code) }
            guard !deadline.hasPassed else { throw LockTimeout(path: path, seconds: seconds) }
            var wait = timespec(tv_sec: 0, tv_nsec: Int(min(pause, deadline.remaining)) * 1_000_000)
            // A signal only ends the pause early.
            _ = nanosleep(&wait, nil)
            pause = min(pause * 2, 20)
        }
    }
}

/// A lock still held by another process when the wait for it ended.
package struct LockTimeout: Error, CustomStringConvertible, Equatable {
    package let path: String
    package let seconds: Int64
    package var description: String { "\(path) stayed locked longer than store_timeout (\(seconds) s)" }
}

/// Whole-file helpers shared by the configuration, the store and the mail transports.
package enum SafeFile {
    /// Opens a file read-only (never following a symlink, never blocking on a FIFO), checks it
    /// against `policy` and returns its text. `nil` when it does not exist.
    package static func readText(_ path: String, policy: FilePolicy) throws -> String? {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, flags: O_RDONLY | O_NONBLOCK)
        } catch let error as SystemError where error.code == ENOENT {
            return nil
        } catch let error as SystemError where error.code == ELOOP {
            throw FileTrustError.notRegular(path)
        }
        _ = try fd.check(policy)
        let bytes = try fd.readAll(limit: policy.maxSize)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Replaces `name` in the directory `directory` atomically: a temporary file is written,
    /// `fsync`ed and renamed over the old one, then the directory is `fsync`ed. A crash leaves
    /// either the old or the new content.
    /// With `owner`, the file gets that owner and group (`fchown(2)`): under su, sudo or chfn
    /// the effective group is the caller's, and a new file would otherwise be in it.
    package static func replace(directory: String, name: String, contents: [UInt8], mode: mode_t = 0o600,
                               owner: FileOwner? = nil) throws {
        let temporary = "\(directory)/.\(name).tmp.\(getpid())"
        let target = "\(directory)/\(name)"
        unlink(temporary)
        do {
            let fd = try FileDescriptor.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode)
            if let owner = owner { try fd.own(owner) }
            try retryingEINTR("fchmod", temporary) { fchmod(fd.raw, mode) }
            try fd.writeAll(contents)
            try fd.sync()
            try rename(temporary, to: target)
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory)
    }

    /// Removes the temporary files of `replace` (`.NAME.tmp.PID`) that a killed writer left in
    /// `directory`: those whose process is gone and that are older than `age` seconds (a live
    /// writer's file is never touched). Returns how many went.
    @discardableResult
    package static func removeStaleTemporaries(in directory: String, olderThan age: Int64 = 60) -> Int {
        guard let names = try? list(directory) else { return 0 }
        var removed = 0
        let now = Int64(time(nil))
        for name in names where ByteText.hasPrefix(name, ".") {
            let parts = name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            guard parts.count >= 4, Array(parts[parts.count - 2]) == Array("tmp".utf8),
                  let pid = Int32(String(decoding: parts[parts.count - 1], as: UTF8.self)), pid > 0 else { continue }
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
            var info = stat()
            let path = "\(directory)/\(name)"
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, now - Int64(info.st_mtim.tv_sec) >= age else { continue }
            if unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    /// The status of `path`, or nil when it does not exist (`ENOENT`); a final symbolic link is
    /// followed unless `followingLinks` is false. `stat(2)`, `lstat(2)`.
    package static func status(_ path: String, followingLinks: Bool = true) throws -> stat? {
        var info = stat()
        let result = followingLinks ? stat(path, &info) : lstat(path, &info)
        if result == 0 { return info }
        guard errno == ENOENT else { throw SystemError(followingLinks ? "stat" : "lstat", path) }
        return nil
    }

    /// Makes the directory `path` with `mode`; false when something of that name exists
    /// already (`mkdir(2)`, `EEXIST`).
    @discardableResult
    package static func makeDirectory(_ path: String, mode: mode_t = 0o700) throws -> Bool {
        if mkdir(path, mode) == 0 { return true }
        guard errno == EEXIST else { throw SystemError("mkdir", path) }
        return false
    }

    /// True when this process's real ids may read (`R_OK`), write (`W_OK`) or run (`X_OK`)
    /// `path`; `access(2)`.
    package static func permits(_ path: String, _ mode: Int32) -> Bool {
        access(path, mode) == 0
    }

    /// A new directory `prefix` + six random characters, mode 0700; `mkdtemp(3)`, which writes
    /// the name into the template: it is read inside the template's scope.
    package static func makeTemporaryDirectory(prefix: String) throws -> String {
        var template = Array("\(prefix)XXXXXX".utf8CString)
        let made: String? = template.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress, let name = mkdtemp(base) else { return nil }
            return String(cString: name)
        }
        guard let path = made else { throw SystemError("mkdtemp", prefix) }
        return path
    }

    /// Removes `path` and, when it is a directory, everything below it; symbolic links are
    /// removed, never followed. Failures are ignored. `lstat(2)`, `unlink(2)`, `rmdir(2)`.
    package static func removeTree(_ path: String) {
        guard let info = try? status(path, followingLinks: false) else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            for name in (try? list(path)) ?? [] { removeTree("\(path)/\(name)") }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// True when the file name `name` matches the shell pattern `pattern` (`*`, `?`, `[...]`);
    /// `fnmatch(3)` without flags.
    package static func nameMatches(_ name: String, pattern: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }

    /// Renames `source` over `target` (`rename(2)`).
    package static func rename(_ source: String, to target: String) throws {
        try retryingEINTR("rename", target) { Glibc.rename(source, target) }
    }

    /// Removes `directory/name` and `fsync`s the directory; a missing file is not an error.
    package static func remove(directory: String, name: String) throws {
        let target = "\(directory)/\(name)"
        if unlink(target) != 0 && errno != ENOENT { throw SystemError("unlink", target) }
        try syncDirectory(directory)
    }

    /// `fsync(2)` on a directory, so that a rename or unlink in it is durable.
    package static func syncDirectory(_ directory: String) throws {
        let fd = try FileDescriptor.open(directory, flags: O_RDONLY | O_DIRECTORY)
        try fd.sync()
    }

    /// Makes sure `path` is a directory owned by `owner` with no group/other permissions,
    /// creating it (mode 0700) when it is missing and `create` is true. Returns false when it is
    /// missing and was not created.
    /// A directory it makes gets `group` (`fchown(2)`, see `replace`).
    @discardableResult
    package static func ensureDirectory(_ path: String, owner: uid_t, group: gid_t? = nil, create: Bool) throws -> Bool {
        var made = false
        if try status(path, followingLinks: false) == nil {
            guard create else { return false }
            made = try makeDirectory(path)
        }
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, flags: O_RDONLY | O_DIRECTORY)
        } catch let error as SystemError where error.code == ELOOP || error.code == ENOTDIR {
            throw FileTrustError.notDirectory(path)
        }
        _ = try fd.check(FilePolicy(owner: owner, forbiddenModeBits: 0o077, maxSize: 0), directory: true)
        if made, let group = group { try fd.own(FileOwner(uid: owner, gid: group)) }
        return true
    }

    /// `path` with every symbolic link, `.` and `..` resolved, or nil with `errno` set; `realpath(3)`
    /// into memory it allocates, copied and freed here.
    package static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The names in a directory, without `.` and `..` (`opendir(3)`/`readdir(3)`).
    package static func list(_ directory: String) throws -> [String] {
        guard let dir = opendir(directory) else { throw SystemError("opendir", directory) }
        defer { closedir(dir) }
        var names = [String]()
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
