import Glibc
import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPFlows
@testable import EmailOTPStore
@testable import EmailOTPSystem
@testable import EmailOTPToken

/// What the caller of su or sudo can do to the file store: hold its lock (it may SIGSTOP its
/// own su while su holds it), and choose the effective group its files are made with.
/// Lock waits end after `store_timeout` (a login fails closed); files are root:root.
final class FileStoreLimitsTests: FlowTestCase {
    /// Holds `path`'s lock through a descriptor of its own, as another process would.
    func hold(_ path: String) throws -> FileDescriptor {
        let fd = try FileDescriptor.open(path, flags: O_RDONLY | O_CREAT, mode: 0o600)
        guard flock(fd.raw, LOCK_EX) == 0 else { throw SystemError("flock", path) }
        return fd
    }

    func testAHeldUserLockEndsInStoreBusy() throws {
        try enroll()
        let holder = try hold("\(storeDirectory)/locks/alice")
        let timed = FileStore(directory: storeDirectory, owner: geteuid(), random: random, clock: clock, lockTimeout: 1)
        XCTAssertThrowsError(try timed.update(user: "alice") { $0?.failCount = 1 }) { error in
            guard case StoreError.busy = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("store busy"), "\(error)")
        }
        withExtendedLifetime(holder) {}
        XCTAssertEqual(try record()?.failCount, 0)
    }

    func testALoginBehindAHeldLockFailsClosed() throws {
        try enroll()
        store = FileStore(directory: storeDirectory, owner: geteuid(), random: random, clock: clock, lockTimeout: 1)
        let holder = try hold("\(storeDirectory)/locks/alice")
        let conversation = ScriptedConversation([answer(Self.pin), mailedCode()])
        let result = InteractiveFlow(authenticator()).run(user: "alice", conversation: conversation, nullok: false, stackPIN: nil, firstPass: .no).status
        XCTAssertEqual(result, .unavailable)
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertTrue(logger.text.contains("store busy"), logger.text)
        XCTAssertEqual(ChallengeFlow(authenticator()).step(user: "alice", password: Self.pin, nullok: false).status, .unavailable)
        withExtendedLifetime(holder) {}
    }

    /// A name without a lock file is serialised by the locks directory's lock when a record is
    /// made for it: that wait ends too. A login's attempt for such a name takes no lock at all
    /// (there is nothing to charge): it is refused like a wrong PIN, without waiting.
    func testAHeldLocksDirectoryEndsInStoreBusyForANewName() throws {
        try store.prepare(create: true)
        store = FileStore(directory: storeDirectory, owner: geteuid(), random: random, clock: clock, lockTimeout: 1)
        let holder = try FileDescriptor.open("\(storeDirectory)/locks", flags: O_RDONLY | O_DIRECTORY)
        guard flock(holder.raw, LOCK_EX) == 0 else { throw SystemError("flock", "locks") }
        XCTAssertThrowsError(try store.update(user: "mallory") { $0 = TokenRecord(user: "mallory", email: "m@example.org", pinHash: nil) }) { error in
            guard case StoreError.busy = error else { return XCTFail("\(error)") }
        }
        let conversation = ScriptedConversation([answer(Self.pin)])
        XCTAssertEqual(InteractiveFlow(authenticator()).run(user: "mallory", conversation: conversation, nullok: false, stackPIN: nil, firstPass: .no).status,
                       .authError)
        XCTAssertFalse(logger.text.contains("store busy"), logger.text)
        withExtendedLifetime(holder) {}
    }

    func testAFreeLockIsTakenAtOnce() throws {
        try enroll()
        let timed = FileStore(directory: storeDirectory, owner: geteuid(), random: random, clock: clock, lockTimeout: 1)
        try timed.update(user: "alice") { $0?.failCount = 2 }
        XCTAssertEqual(try record()?.failCount, 2)
    }

    // MARK: ownership

    /// Under su, sudo and chfn the effective group is the caller's: every file and directory
    /// the store makes is root:root all the same.
    func testFilesAreRootRootWhateverTheEffectiveGroup() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root") }
        store = FileStore(directory: storeDirectory, owner: 0, random: random, clock: clock)
        guard setegid(65534) == 0 else { throw SystemError("setegid", "") }
        defer { _ = setegid(0) }
        try enroll()
        let conversation = ScriptedConversation([answer(Self.pin), wrongCode(), mailedCode()])
        XCTAssertEqual(InteractiveFlow(authenticator()).run(user: "alice", conversation: conversation, nullok: false, stackPIN: nil, firstPass: .no).status, .success)
        _ = setegid(0)
        let paths = [storeDirectory] + TempDir.walk(storeDirectory).map { "\(storeDirectory)/\($0)" }
        XCTAssertGreaterThanOrEqual(paths.count, 5, "\(paths)")
        for path in paths {
            var info = stat()
            XCTAssertEqual(lstat(path.hasSuffix("/") ? String(path.dropLast()) : path, &info), 0, path)
            XCTAssertEqual(info.st_uid, 0, path)
            XCTAssertEqual(info.st_gid, 0, path)
        }
    }
}
