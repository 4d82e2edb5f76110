import Glibc
import XCTest
@testable import EmailOTPSystem

/// System/Files: a lock is held exactly for its descriptor's `closeAfter` scope, a slot kept
/// open until exit stays held, and `SafeFile.status` tells a missing path from a failure.
final class FileScopeTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = try SafeFile.makeTemporaryDirectory(prefix: "/tmp/emailotp-filescope.")
    }

    override func tearDown() {
        SafeFile.removeTree(directory)
        XCTAssertNil(try? SafeFile.status(directory, followingLinks: false), "removeTree removes the whole tree")
    }

    /// Another open file description of the same file: flock locks conflict between them.
    func other(_ path: String) throws -> FileDescriptor {
        try FileDescriptor.open(path, flags: O_RDWR)
    }

    func testTheLockIsHeldForTheScopeAndReleasedAfterIt() throws {
        let path = "\(directory)/lock"
        let result: Bool = try FileDescriptor.locked(path, flags: O_RDWR | O_CREAT, within: 1).closeAfter {
            try other(path).tryLockExclusive()
        }
        XCTAssertFalse(result, "inside the scope the lock is held")
        XCTAssertTrue(try other(path).tryLockExclusive(), "after the scope the lock is free")
    }

    func testTheLockIsReleasedWhenTheScopeThrows() throws {
        struct Failure: Error {}
        let path = "\(directory)/lock"
        XCTAssertThrowsError(try FileDescriptor.locked(path, flags: O_RDWR | O_CREAT, within: 1).closeAfter { throw Failure() })
        XCTAssertTrue(try other(path).tryLockExclusive())
    }

    func testAWaitForAHeldLockEndsWithLockTimeout() throws {
        let path = "\(directory)/lock"
        try FileDescriptor.locked(path, flags: O_RDWR | O_CREAT, within: 1).closeAfter {
            XCTAssertThrowsError(try FileDescriptor.locked(path, flags: O_RDWR, within: 0)) { error in
                XCTAssertTrue(error is LockTimeout, "\(error)")
            }
        }
    }

    func testADescriptorKeptOpenUntilExitKeepsItsLockWhenTheObjectGoes() throws {
        let path = "\(directory)/slot"
        var raw: Int32 = -1
        do {
            let slot = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT)
            XCTAssertTrue(slot.tryLockExclusive())
            raw = slot.raw
            slot.keepOpenUntilExit()
        }
        XCTAssertFalse(try other(path).tryLockExclusive(), "the slot is still held after its object went")
        close(raw)
        XCTAssertTrue(try other(path).tryLockExclusive())
    }

    func testStatusIsNilForAMissingPathAndThrowsForAnotherFailure() throws {
        XCTAssertNil(try SafeFile.status("\(directory)/missing"))
        XCTAssertNotNil(try SafeFile.status(directory))
        let file = "\(directory)/file"
        try FileDescriptor.open(file, flags: O_WRONLY | O_CREAT).closeAfter {}
        XCTAssertThrowsError(try SafeFile.status("\(file)/below")) { error in
            XCTAssertEqual((error as? SystemError)?.code, ENOTDIR)
        }
        try SafeFile.rename(file, to: "\(directory)/renamed")
        XCTAssertNil(try SafeFile.status(file))
        XCTAssertFalse(try SafeFile.makeDirectory(directory), "an existing directory is not made again")
    }
}
