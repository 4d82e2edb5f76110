import Dispatch
import Glibc
import XCTest
@testable import EmailOTPStore
@testable import EmailOTPSystem
@testable import EmailOTPToken

/// The file store: layout, modes, hostile names, atomic writes, refusal of unsafe files.
final class StoreTests: TempDirTestCase {
    var storeDirectory: String { "\(root)/store" }
    var store: FileStore { FileStore(directory: storeDirectory, owner: geteuid(), random: SeededRandom(), clock: TestClock()) }

    func sample(_ user: String = "alice") -> TokenRecord {
        var record = TokenRecord(user: user, email: "alice@example.com", pinHash: "$y$j9T$salt$hash")
        record.failCount = 2
        record.mails = [1_764_230_000, 1_764_230_040]
        record.challenges = [Challenge(transactionID: "12345678901234567890", codeHash: String(repeating: "ab", count: 32),
                                       created: 1_764_230_040, expires: 1_764_230_340, triesLeft: 3)]
        return record
    }

    func put(_ record: TokenRecord) throws {
        try store.update(user: record.user) { $0 = record }
    }

    func mode(_ path: String) -> mode_t {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        return info.st_mode & 0o7777
    }

    func inode(_ path: String) -> ino_t {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        return info.st_ino
    }

    func assertUnsafe(_ body: @autoclosure () throws -> Any?, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard case StoreError.unsafe = error else {
                return XCTFail("expected StoreError.unsafe, got \(error)", file: file, line: line)
            }
        }
    }

    // MARK: names

    func testHostileNamesStayInsideTheStoreOrAreRefused() throws {
        let hostile = ["../x", "a/b", ".", "..", "%", "%25", "%2E", "/etc/passwd", "../../../../tmp/evil", "./.",
                       ".hidden", "@x", "x y", "a\\b", "ü", "\u{301}x", "a\u{85}b", "users", "locks", "hmac.key",
                       "a\u{1}b", "a\nb", "a\rb", "\u{7F}", "\0", "tab\tname",
                       String(repeating: "a", count: 300), String(repeating: "/", count: 100), ""]
        var accepted = [String]()
        for name in hostile {
            do {
                try put(TokenRecord(user: name, email: "u@example.com", pinHash: nil))
                accepted.append(name)
            } catch is BadUserName {
                continue  // refused: fine
            }
        }
        // Everything must be refused that the design says is refused.
        for refused in ["a\u{1}b", "a\nb", "a\rb", "\u{7F}", "\0", "tab\tname", String(repeating: "a", count: 300),
                        String(repeating: "/", count: 100), ""] {
            XCTAssertFalse(accepted.contains(refused), "\(Array(refused.utf8).prefix(8)) should be refused")
        }
        XCTAssertTrue(accepted.contains("../x"))
        XCTAssertTrue(accepted.contains("a/b"))

        // Nothing outside the store; inside it only users/ and locks/ hold one file per name.
        let tree = TempDir.walk(root)
        XCTAssertEqual(tree.filter { !$0.hasPrefix("store/") && $0 != "store/" }, [])
        let files = tree.filter { !$0.hasSuffix("/") }
        let directories = tree.filter { $0.hasSuffix("/") }
        XCTAssertEqual(directories, ["store/", "store/locks/", "store/users/"])
        XCTAssertEqual(files.filter { $0.hasPrefix("store/users/") }.count, accepted.count)
        XCTAssertEqual(files.filter { $0.hasPrefix("store/locks/") }.count, accepted.count)
        XCTAssertEqual(files.count, 2 * accepted.count)

        // Every file decodes back to its user, and every user reads its own record.
        XCTAssertEqual(Set(try store.users()), Set(accepted))
        for name in accepted {
            let record = try store.read(user: name)
            XCTAssertEqual(record?.user, name)
            let encoded = try UserName.encode(name)
            XCTAssertTrue(fileExists("\(storeDirectory)/users/\(encoded)"))
            XCTAssertTrue(fileExists("\(storeDirectory)/locks/\(encoded)"))
        }
    }

    func testRefusedNamesThrowOnEveryOperation() throws {
        for name in ["", "a\nb", String(repeating: "x", count: 257)] {
            XCTAssertThrowsError(try store.read(user: name)) { XCTAssertTrue($0 is BadUserName) }
            XCTAssertThrowsError(try put(TokenRecord(user: name, email: "u@example.com", pinHash: nil))) {
                XCTAssertTrue($0 is BadUserName)
            }
        }
        XCTAssertEqual(TempDir.walk(root).filter { !$0.hasSuffix("/") }, [])
    }

    func testNamesDifferingOnlyInEncodingAreDifferentRecords() throws {
        // "%41" must not collide with "A", nor ".x" with "%2Ex".
        for name in ["A", "%41", ".x", "%2Ex", "é", "e\u{301}"] {
            var record = TokenRecord(user: name, email: "u@example.com", pinHash: nil)
            record.failCount = Int(name.utf8.count)
            try put(record)
        }
        for name in ["A", "%41", ".x", "%2Ex", "é", "e\u{301}"] {
            XCTAssertEqual(try store.read(user: name)?.failCount, Int(name.utf8.count), name)
        }
        XCTAssertEqual(try store.users().count, 6)
    }

    // MARK: records

    func testRoundTripThroughTheStore() throws {
        let record = sample()
        try put(record)
        XCTAssertEqual(try store.read(user: "alice"), record)
        var second = sample("bob")
        second.pinHash = nil
        second.enabled = false
        second.lockedAt = 1_764_231_000
        second.challenges = []
        second.mails = []
        try put(second)
        XCTAssertEqual(try store.read(user: "bob"), second)
        XCTAssertEqual(try store.users(), ["alice", "bob"])
    }

    func testMissingUserAndMissingStore() throws {
        XCTAssertNil(try store.read(user: "alice"))
        XCTAssertEqual(try store.users(), [])
        XCTAssertFalse(fileExists(storeDirectory), "reading does not create the store")
        try put(sample())
        XCTAssertNil(try store.read(user: "bob"))
    }

    func testUpdateToNilDeletesTheRecord() throws {
        try put(sample())
        try store.update(user: "alice") { $0 = nil }
        XCTAssertNil(try store.read(user: "alice"))
        XCTAssertFalse(fileExists("\(storeDirectory)/users/alice"))
        XCTAssertEqual(try store.users(), [])
    }

    func testUpdateReturnsTheBodysResult() throws {
        try put(sample())
        let count: Int = try store.update(user: "alice") { record in
            record?.failCount += 1
            return record?.failCount ?? -1
        }
        XCTAssertEqual(count, 3)
        XCTAssertEqual(try store.read(user: "alice")?.failCount, 3)
    }

    func testThrowingBodyWritesNothing() throws {
        try put(sample())
        struct Stop: Error {}
        XCTAssertThrowsError(try store.update(user: "alice") { record -> Void in
            record?.failCount = 99
            throw Stop()
        })
        XCTAssertEqual(try store.read(user: "alice"), sample())
    }

    func testUnchangedRecordIsNotRewritten() throws {
        try put(sample())
        let before = inode("\(storeDirectory)/users/alice")
        try store.update(user: "alice") { _ in }
        XCTAssertEqual(inode("\(storeDirectory)/users/alice"), before)
        try store.update(user: "alice") { $0?.failCount += 1 }
        XCTAssertNotEqual(inode("\(storeDirectory)/users/alice"), before, "a change is written by rename")
    }

    /// An attempt that leaves the record as it was writes the decoy record instead, durably
    /// (a new file renamed into place), so that it costs the writes of one that changes it.
    func testAnAttemptThatChangesNothingWritesTheDecoy() throws {
        try put(sample())
        let record = inode("\(storeDirectory)/users/alice")
        try store.attempt(user: "alice", charge: { _, _ in }, settle: { _, _, _ in })
        let decoy = inode("\(storeDirectory)/users/.decoy")
        XCTAssertNotEqual(decoy, 0, "the decoy was written")
        XCTAssertEqual(inode("\(storeDirectory)/users/alice"), record, "the record was not rewritten")
        XCTAssertEqual(unlink("\(storeDirectory)/users/.decoy"), 0)
        try store.attempt(user: "alice", charge: { _, _ in }, settle: { _, _, _ in })
        XCTAssertNotEqual(inode("\(storeDirectory)/users/.decoy"), 0, "written again")
        XCTAssertEqual(try store.users(), ["alice"], "the decoy is no user")
        XCTAssertEqual(TempDir.walk(root).filter { $0.contains(".tmp") }, [])
    }

    /// A name with neither record nor lock file: its attempt takes no lock (not even the
    /// `locks/` directory's, held here by someone else) and leaves no file of its own.
    func testAnAttemptForANameWithoutARecordTakesNoLock() throws {
        try store.prepare(create: true)
        let held = open("\(storeDirectory)/locks", O_RDONLY | O_DIRECTORY)
        XCTAssertEqual(flock(held, LOCK_EX | LOCK_NB), 0)
        defer { close(held) }
        let quick = FileStore(directory: storeDirectory, owner: geteuid(), random: SeededRandom(), clock: TestClock(), lockTimeout: 1)
        let seen = try quick.attempt(user: "nobody", charge: { _, _ in }, settle: { record, charged, _ in record == nil && charged == nil })
        XCTAssertTrue(seen)
        XCTAssertEqual(inode("\(storeDirectory)/locks/nobody"), 0)
        XCTAssertEqual(inode("\(storeDirectory)/users/nobody"), 0)
        XCTAssertNotEqual(inode("\(storeDirectory)/users/.decoy"), 0)
    }

    func testAtomicWriteLeavesNoTemporaryFile() throws {
        for count in 0..<5 {
            try store.update(user: "alice") { record in
                record = record ?? sample()
                record?.failCount = count
            }
        }
        XCTAssertEqual(try SafeFile.list("\(storeDirectory)/users"), ["alice"])
        XCTAssertEqual(TempDir.walk(root).filter { $0.contains(".tmp") }, [])
    }

    func testLockFileIsNeverRenamed() throws {
        try put(sample())
        let lock = inode("\(storeDirectory)/locks/alice")
        XCTAssertNotEqual(lock, 0)
        for _ in 0..<3 { try store.update(user: "alice") { $0?.failCount += 1 } }
        try store.update(user: "alice") { $0 = nil }
        XCTAssertEqual(inode("\(storeDirectory)/locks/alice"), lock)
    }

    func testModes() throws {
        try put(sample())
        _ = try store.codeKey()
        XCTAssertEqual(mode("\(storeDirectory)/users"), 0o700)
        XCTAssertEqual(mode("\(storeDirectory)/locks"), 0o700)
        XCTAssertEqual(mode("\(storeDirectory)/users/alice"), 0o600)
        XCTAssertEqual(mode("\(storeDirectory)/locks/alice"), 0o600)
        XCTAssertEqual(mode("\(storeDirectory)/hmac.key"), 0o600)
    }

    func testTheRecordFileIsTheDocumentedText() throws {
        try put(sample())
        let text = try XCTUnwrap(try SafeFile.readText("\(storeDirectory)/users/alice",
                                                       policy: FilePolicy(owner: geteuid(), forbiddenModeBits: 0, maxSize: 4096)))
        XCTAssertEqual(text, RecordFormat.render(sample()))
        XCTAssertTrue(text.hasPrefix("emailotp-token 2\n"))
    }

    func testParallelUpdatesLoseNothing() throws {
        try put(TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil))
        let directory = storeDirectory
        let owner = geteuid()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            let store = FileStore(directory: directory, owner: owner, random: SeededRandom(), clock: TestClock())
            for _ in 0..<20 {
                try? store.update(user: "alice") { $0?.failCount += 1 }
            }
        }
        XCTAssertEqual(try store.read(user: "alice")?.failCount, 80)
    }

    // MARK: unsafe and corrupt files

    func testCorruptRecordThrowsCorrupt() throws {
        try store.prepare(create: true)
        let bad = ["", "garbage\n", "emailotp-token 2\nuser alice\n",
                   RecordFormat.render(sample()).replacing("fail_count 2", with: "fail_count many", maxReplacements: 1),
                   RecordFormat.render(sample()).replacing("user alice", with: "user bob", maxReplacements: 1),
                   RecordFormat.render(sample()) + "challenge 1 2 3\n",
                   RecordFormat.render(sample()) + "admin yes\n"]
        for text in bad {
            try writeFile("\(storeDirectory)/users/alice", text)
            XCTAssertThrowsError(try store.read(user: "alice")) { error in
                guard case StoreError.corrupt(let user, _, _) = error else {
                    return XCTFail("expected corrupt, got \(error) for \(text)")
                }
                XCTAssertEqual(user, "alice")
            }
            XCTAssertThrowsError(try store.update(user: "alice") { $0?.failCount = 0 })
        }
    }

    func testCorruptRecordOfOneUserLeavesOthersAlone() throws {
        try put(sample("bob"))
        try store.prepare(create: true)
        try writeFile("\(storeDirectory)/users/alice", "nonsense\n")
        XCTAssertThrowsError(try store.read(user: "alice"))
        XCTAssertEqual(try store.read(user: "bob"), sample("bob"))
    }

    func testSymlinkedRecordIsRefused() throws {
        try store.prepare(create: true)
        try writeFile("\(root)/elsewhere", RecordFormat.render(sample()))
        XCTAssertEqual(symlink("\(root)/elsewhere", "\(storeDirectory)/users/alice"), 0)
        assertUnsafe(try store.read(user: "alice"))
        assertUnsafe(try store.update(user: "alice") { $0?.failCount = 0 })
        XCTAssertEqual(try SafeFile.readText("\(root)/elsewhere", policy: FilePolicy(owner: geteuid(), forbiddenModeBits: 0, maxSize: 4096)),
                       RecordFormat.render(sample()), "the link target is untouched")
    }

    func testWrongModeRecordIsRefused() throws {
        try put(sample())
        for bad: mode_t in [0o644, 0o640, 0o604, 0o660, 0o606] {
            XCTAssertEqual(chmod("\(storeDirectory)/users/alice", bad), 0)
            assertUnsafe(try store.read(user: "alice"))
        }
        XCTAssertEqual(chmod("\(storeDirectory)/users/alice", 0o600), 0)
        XCTAssertEqual(try store.read(user: "alice"), sample())
        XCTAssertEqual(chmod("\(storeDirectory)/users/alice", 0o400), 0)
        XCTAssertEqual(try store.read(user: "alice"), sample(), "read-only by the owner is fine")
    }

    func testWrongOwnerRecordIsRefused() throws {
        try XCTSkipUnless(geteuid() == 0, "needs root to chown")
        try put(sample())
        XCTAssertEqual(chown("\(storeDirectory)/users/alice", 1, 1), 0)
        assertUnsafe(try store.read(user: "alice"))
    }

    func testFIFOAndDirectoryRecordsAreRefused() throws {
        try store.prepare(create: true)
        XCTAssertEqual(mkfifo("\(storeDirectory)/users/alice", 0o600), 0)
        assertUnsafe(try store.read(user: "alice"))
        XCTAssertEqual(mkdir("\(storeDirectory)/users/bob", 0o700), 0)
        assertUnsafe(try store.read(user: "bob"))
    }

    func testSymlinkedLockFileIsRefused() throws {
        try store.prepare(create: true)
        try writeFile("\(root)/target", "")
        XCTAssertEqual(symlink("\(root)/target", "\(storeDirectory)/locks/alice"), 0)
        assertUnsafe(try store.update(user: "alice") { $0 = sample() })
        XCTAssertFalse(fileExists("\(storeDirectory)/users/alice"))
    }

    func testUnsafeStoreDirectoriesAreRefused() throws {
        try put(sample())
        XCTAssertEqual(chmod(storeDirectory, 0o755), 0)
        assertUnsafe(try store.read(user: "alice"))
        XCTAssertEqual(chmod(storeDirectory, 0o700), 0)
        XCTAssertEqual(chmod("\(storeDirectory)/users", 0o750), 0)
        assertUnsafe(try store.read(user: "alice"))
        XCTAssertEqual(chmod("\(storeDirectory)/users", 0o700), 0)
        XCTAssertEqual(try store.read(user: "alice"), sample())
    }

    func testSymlinkedUsersDirectoryIsRefused() throws {
        XCTAssertEqual(mkdir(storeDirectory, 0o700), 0)
        XCTAssertEqual(mkdir("\(root)/other", 0o700), 0)
        XCTAssertEqual(symlink("\(root)/other", "\(storeDirectory)/users"), 0)
        assertUnsafe(try store.read(user: "alice"))
        assertUnsafe(try put(sample()))
        XCTAssertEqual(try SafeFile.list("\(root)/other"), [])
    }

    func testSymlinkedStoreDirectoryIsRefused() throws {
        XCTAssertEqual(mkdir("\(root)/real", 0o700), 0)
        XCTAssertEqual(symlink("\(root)/real", storeDirectory), 0)
        assertUnsafe(try put(sample()))
        XCTAssertEqual(try SafeFile.list("\(root)/real"), [])
    }

    // MARK: the code key

    func testCodeKeyIsMadeOnceAndKept() throws {
        let key = try store.codeKey()
        XCTAssertEqual(key.count, 32)
        XCTAssertEqual(try store.codeKey(), key)
        XCTAssertEqual(try FileStore(directory: storeDirectory, owner: geteuid(), random: SeededRandom(), clock: TestClock()).codeKey(), key)
        let text = try SafeFile.readText("\(storeDirectory)/hmac.key", policy: FilePolicy(owner: geteuid(), forbiddenModeBits: 0o077, maxSize: 100))
        XCTAssertEqual(text, Hex.encode(key) + "\n")
    }

    func testBadCodeKeyIsRefused() throws {
        try store.prepare(create: true)
        try writeFile("\(storeDirectory)/hmac.key", "abcd\n")
        assertUnsafe(try store.codeKey())
        try writeFile("\(storeDirectory)/hmac.key", String(repeating: "0", count: 64) + "\n", mode: 0o644)
        assertUnsafe(try store.codeKey())
    }
}
