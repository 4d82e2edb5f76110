import EmailOTPCrypto
import EmailOTPSystem
import EmailOTPToken
import Glibc

/// The file-backed store under `/var/lib/emailotp` (layout in docs/DESIGN.md and emailotp.conf(5)).
public struct FileStore: TokenStore {
    public let directory: String
    /// The owner every store file and directory must have: root, except in unit tests.
    public let owner: uid_t
    let random: RandomSource
    /// The time handed to `update` bodies: the host's clock, or a test's.
    let clock: Clock
    /// Seconds to wait for a lock (`store_timeout`): behind a holder that does not let go (a
    /// stopped su) the login fails closed instead of hanging.
    public let lockTimeout: Int64

    /// `random` makes the code key on first use; `clock` is the time handed to `update` bodies.
    public init(directory: String, owner: uid_t = 0, random: RandomSource, clock: Clock, lockTimeout: Int64 = 5) {
        self.directory = directory
        self.owner = owner
        self.random = random
        self.clock = clock
        self.lockTimeout = lockTimeout
    }

    var usersDirectory: String { "\(directory)/users" }
    var locksDirectory: String { "\(directory)/locks" }
    /// Every file and directory the store makes is root:root (the owner's group in unit tests),
    /// whatever the effective group of the process (under su it is the caller's).
    var fileOwner: FileOwner { FileOwner(uid: owner, gid: owner == 0 ? 0 : ThisProcess.effectiveGroup) }
    var recordPolicy: FilePolicy { FilePolicy(owner: owner, forbiddenModeBits: 0o077, maxSize: 256 * 1024) }

    /// Checks (and with `create`, makes) the store directories. False when the store does not exist.
    @discardableResult
    public func prepare(create: Bool) throws -> Bool {
        try classified {
            guard try SafeFile.ensureDirectory(directory, owner: owner, group: fileOwner.gid, create: create) else { return false }
            try SafeFile.ensureDirectory(usersDirectory, owner: owner, group: fileOwner.gid, create: true)
            try SafeFile.ensureDirectory(locksDirectory, owner: owner, group: fileOwner.gid, create: true)
            return true
        }
    }

    /// Runs one file-system step and sorts its failure: a file that is not what it must be (or a
    /// symbolic link where a file must be) is `.unsafe`, anything else `.io`.
    func classified<T>(_ step: () throws -> T) throws -> T {
        do {
            return try step()
        } catch let error as StoreError {
            throw error
        } catch let error as FileTrustError {
            throw StoreError.unsafe(error.description)
        } catch let error as LockTimeout {
            throw StoreError.busy(error.description)
        } catch let error as SystemError where error.code == ELOOP {
            throw StoreError.unsafe("\(error.path) is a symbolic link")
        } catch {
            throw StoreError.io("\(error)")
        }
    }

    public func read(user: String) throws -> TokenRecord? {
        let name = try UserName.encode(user)
        guard try prepare(create: false) else { return nil }
        return try load(user: user, file: name)
    }

    public func update<T>(user: String, _ body: (inout TokenRecord?, _ now: Int64) throws -> T) throws -> T {
        try transaction(user: user) { record, now, _ in try body(&record, now) }
    }

    /// Both steps under one hold of the user's lock: the charge is renamed into place and
    /// synced before `settle` compares anything.
    ///
    /// Every attempt makes exactly two durable writes, whatever the record holds: the charge
    /// and the settlement each write the record, or, when they leave it as it was (no token,
    /// a locked, disabled or PIN-less one, nothing to refund), the decoy record `users/.decoy`
    /// of the same size, through the same temporary file, `fsync` and rename. A local user who
    /// watches another's login (its wall time, or the helper's `/proc`) cannot tell from the
    /// store's work whether that user has a usable token.
    ///
    /// A name with neither lock file nor record takes no lock at all: there is nothing to
    /// charge, so such attempts (any name anyone types) neither serialise on the `locks/`
    /// directory nor wait for an enrolment. Should the bodies make a record, they run again
    /// from the start under the lock, like any other name's.
    public func attempt<T>(user: String, charge: (inout TokenRecord?, _ now: Int64) throws -> Void,
                           settle: (inout TokenRecord?, _ charged: TokenRecord?, _ now: Int64) throws -> T) throws -> T {
        let name = try UserName.encode(user)
        try prepare(create: true)
        if try !exists("\(locksDirectory)/\(name)"), try load(user: user, file: name) == nil {
            var record: TokenRecord? = nil
            let now = clock.now()
            try charge(&record, now)
            if record == nil {
                try writeDecoy(like: nil)
                let result = try settle(&record, nil, now)
                if record == nil {
                    try writeDecoy(like: nil)
                    return result
                }
            }
        }
        return try transaction(user: user) { record, now, checkpoint in
            let before = record
            try charge(&record, now)
            try checkpoint(record)
            if record == before { try writeDecoy(like: record) }
            let charged = record
            let result = try settle(&record, charged, now)
            // The transaction writes a record that changed; one that did not gets the decoy.
            if record == charged { try writeDecoy(like: record) }
            return result
        }
    }

    /// The file name of the decoy record (an encoded user name never starts with a dot).
    static let decoyName = ".decoy"
    /// The decoy's size when there is no record to copy: about that of an enrolled token's.
    static let decoySize = 512

    /// Writes the decoy record durably, as `write` would write `record` (its size; without a
    /// record, `decoySize` bytes). Its content is never read.
    func writeDecoy(like record: TokenRecord?) throws {
        let size = record.map { RecordFormat.render($0).utf8.count } ?? Self.decoySize
        try classified {
            try SafeFile.replace(directory: usersDirectory, name: Self.decoyName,
                                 contents: [UInt8](repeating: UInt8(ascii: "#"), count: size), owner: fileOwner)
        }
    }

    /// The user's lock held around `body`; `checkpoint` writes the record as it is then (the
    /// lock still held), and what `body` leaves is written unless it equals the last write.
    func transaction<T>(user: String,
                        _ body: (inout TokenRecord?, _ now: Int64, _ checkpoint: (TokenRecord?) throws -> Void) throws -> T) throws -> T {
        let name = try UserName.encode(user)
        try prepare(create: true)
        let lockPath = "\(locksDirectory)/\(name)"
        // A name with neither record nor lock file gets no file at all unless the body makes a
        // record: anyone can hand sshd a user name, and names must not fill the store. Such
        // names are serialised by the lock on the locks directory instead, held until the
        // user's own lock file exists and is locked (or the body made nothing).
        var userLock: FileDescriptor? = nil
        if try !exists(lockPath) {
            let held: Held<T> = try lockDirectory(locksDirectory).closeAfter {
                guard try !exists(lockPath), try load(user: user, file: name) == nil else {
                    return .userLock(try lockUser(lockPath))
                }
                var lock: FileDescriptor? = nil
                defer { lock?.closeNow() }
                var written: TokenRecord? = nil
                let save = { (record: TokenRecord?) throws in
                    guard record != written else { return }
                    if lock == nil { lock = try lockUser(lockPath) }
                    try store(record, over: written, name: name)
                    written = record
                }
                var record: TokenRecord? = nil
                let result = try body(&record, clock.now(), save)
                try save(record)
                return .done(result)
            }
            switch held {
            case .done(let result): return result
            case .userLock(let lock): userLock = lock
            }
        }
        return try (userLock ?? lockUser(lockPath)).closeAfter {
            var written = try load(user: user, file: name)
            let save = { (record: TokenRecord?) throws in
                try store(record, over: written, name: name)
                written = record
            }
            var record = written
            let result = try body(&record, clock.now(), save)
            try save(record)
            return result
        }
    }

    /// What the locks directory's scope of `transaction` ended with: the body's result (it ran
    /// there), or the user's lock, taken while the directory was still locked.
    enum Held<T> {
        case done(T)
        case userLock(FileDescriptor)
    }

    /// `directory` opened and locked within the store's lock timeout.
    func lockDirectory(_ directory: String) throws -> FileDescriptor {
        try classified { try FileDescriptor.locked(directory, flags: O_RDONLY | O_DIRECTORY, within: lockTimeout) }
    }

    /// Writes `record` (nil: removes the file) unless it equals `before`.
    func store(_ record: TokenRecord?, over before: TokenRecord?, name: String) throws {
        guard record != before else { return }
        if let record = record {
            try write(record, name: name)
        } else {
            try classified { try SafeFile.remove(directory: usersDirectory, name: name) }
        }
    }

    /// Opens (making it) and locks the user's lock file, which is never renamed or removed.
    func lockUser(_ path: String) throws -> FileDescriptor {
        try classified {
            let fd = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT | O_NONBLOCK)
            let info = try fd.check(FilePolicy(owner: owner, forbiddenModeBits: 0o077, maxSize: 0))
            if info.st_gid != fileOwner.gid { try fd.own(fileOwner) }
            try fd.lockExclusive(within: lockTimeout)
            return fd
        }
    }

    func write(_ record: TokenRecord, name: String) throws {
        try classified {
            try SafeFile.replace(directory: usersDirectory, name: name, contents: Array(RecordFormat.render(record).utf8), owner: fileOwner)
        }
    }

    func exists(_ path: String) throws -> Bool {
        do {
            return try SafeFile.status(path, followingLinks: false) != nil
        } catch {
            throw StoreError.io("\(error)")
        }
    }

    /// Drops what a killed writer left in `users/` (SafeFile.removeStaleTemporaries).
    @discardableResult
    public func removeStaleTemporaries() -> Int {
        SafeFile.removeStaleTemporaries(in: usersDirectory)
    }

    public func users() throws -> [String] {
        guard try prepare(create: false) else { return [] }
        return try classified {
            try SafeFile.list(usersDirectory).compactMap { ByteText.hasPrefix($0, ".") ? nil : UserName.decode($0) }
        }
    }

    public func codeKey() throws -> [UInt8] {
        try prepare(create: true)
        if let key = try readKey() { return key }
        // Two processes may make the key at once: the store directory's lock decides.
        return try lockDirectory(directory).closeAfter {
            if let key = try readKey() { return key }
            let key = try random.bytes(32)
            try classified {
                try SafeFile.replace(directory: directory, name: "hmac.key", contents: Array((Hex.encode(key) + "\n").utf8), owner: fileOwner)
            }
            return key
        }
    }

    func readKey() throws -> [UInt8]? {
        let path = "\(directory)/hmac.key"
        let text = try classified {
            try SafeFile.readText(path, policy: FilePolicy(owner: owner, forbiddenModeBits: 0o077, maxSize: 1024))
        }
        guard let content = text else { return nil }
        let hex = String(ByteText.droppingSuffix(content, bytes: [ByteText.lineFeed], max: 1))
        guard hex.utf8.count == 64, let key = Hex.decode(hex) else {
            throw StoreError.unsafe("\(path) does not hold a 256-bit key")
        }
        return key
    }

    func load(user: String, file: String) throws -> TokenRecord? {
        let path = "\(usersDirectory)/\(file)"
        let text = try classified { try SafeFile.readText(path, policy: recordPolicy) }
        guard let content = text else { return nil }
        do {
            return try RecordFormat.parse(content, expectedUser: user)
        } catch let error as CorruptRecord {
            throw StoreError.corrupt(user: user, path: path, error)
        }
    }
}
