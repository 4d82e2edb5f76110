import Dispatch
import Glibc
import XCTest
@testable import EmailOTPStore
@testable import EmailOTPToken

/// The `TokenStore` contract every backend honours (the PostgreSQL store is held to it by
/// IntegrationTests/test_store_contract.py): one body run per update, under the lock, with
/// the store's time.
final class StoreContractTests: TempDirTestCase {
    var storeDirectory: String { "\(root)/store" }

    func testTheBodyRunsOnceForAUserWithoutARecord() throws {
        let store = FileStore(directory: storeDirectory, owner: geteuid(), random: SeededRandom(), clock: TestClock())
        var runs = 0
        try store.update(user: "nobody-here") { _ in runs += 1 }
        XCTAssertEqual(runs, 1)
        XCTAssertEqual(TempDir.walk(root), ["store/", "store/locks/", "store/users/"], "an unknown name leaves no file")
        runs = 0
        try store.update(user: "carol") { record in
            runs += 1
            record = TokenRecord(user: "carol", email: "carol@example.com", pinHash: nil)
        }
        XCTAssertEqual(runs, 1)
        XCTAssertNotNil(try store.read(user: "carol"))
    }

    func testConcurrentCreationOfOneUserCreatesItOnce() throws {
        let directory = storeDirectory
        let owner = geteuid()
        let created = UnsafeMutablePointer<Int>.allocate(capacity: 8)
        defer { created.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            let store = FileStore(directory: directory, owner: owner, random: SeededRandom(), clock: TestClock())
            created[index] = (try? store.update(user: "dave") { record -> Int in
                guard record == nil else { return 0 }
                record = TokenRecord(user: "dave", email: "dave@example.com", pinHash: nil)
                return 1
            }) ?? -1
        }
        XCTAssertEqual((0..<8).map { created[$0] }.reduce(0, +), 1)
    }

    func testTheBodyGetsTheStoresTimeReadUnderTheLock() throws {
        let clock = TestClock(1_800_000_000)
        let store = FileStore(directory: storeDirectory, owner: geteuid(), random: SeededRandom(), clock: clock)
        let seen: Int64 = try store.update(user: "erin") { _, now in now }
        XCTAssertEqual(seen, 1_800_000_000)
    }
}

/// A store whose time is another clock than the host's, as the PostgreSQL store's is the
/// database's: a host clock that is off cannot stretch a code's life or shorten a lock.
final class StoreClockTests: FlowTestCase {
    var databaseClock = TestClock()

    override func setUpWithError() throws {
        try super.setUpWithError()
        databaseClock = TestClock(clock.time)
        store = FileStore(directory: storeDirectory, owner: geteuid(), random: random, clock: databaseClock)
    }

    func testAHostClockBehindCannotStretchACodesLife() throws {
        try enroll()
        let auth = authenticator()
        guard case .sent = try auth.trigger(user: "alice", pin: FlowTestCase.pin) else { return XCTFail("no challenge") }
        let code = try XCTUnwrap(lastCode)
        databaseClock.advance(config.otpValidity + 1)
        clock.advance(-3600)
        XCTAssertEqual(try auth.verify(user: "alice", code: code, transactionID: nil, pin: nil), .expired)
    }

    func testAHostClockAheadDoesNotExpireAValidCode() throws {
        try enroll()
        let auth = authenticator()
        guard case .sent = try auth.trigger(user: "alice", pin: FlowTestCase.pin) else { return XCTFail("no challenge") }
        let code = try XCTUnwrap(lastCode)
        clock.advance(3600)
        XCTAssertEqual(try auth.verify(user: "alice", code: code, transactionID: nil, pin: nil), .granted)
    }

    func testChallengesAndLocksCarryTheStoresTime() throws {
        config.maxFail = 1
        try enroll()
        clock.advance(7200)
        let auth = authenticator()
        guard case .sent(let challenge, _) = try auth.trigger(user: "alice", pin: FlowTestCase.pin) else { return XCTFail("no challenge") }
        XCTAssertEqual(challenge.created, databaseClock.time)
        XCTAssertEqual(try auth.verify(user: "alice", code: otherCode(try XCTUnwrap(lastCode)), transactionID: nil, pin: nil), .wrong(triesLeft: 0))
        XCTAssertEqual(try record()?.lockedAt, databaseClock.time)
        // unlock_time passes on the host's clock only: still locked
        clock.advance(config.unlockTime + 10)
        XCTAssertEqual(try auth.trigger(user: "alice", pin: FlowTestCase.pin), .refused(.locked))
        databaseClock.advance(config.unlockTime + 10)
        guard case .sent = try auth.trigger(user: "alice", pin: FlowTestCase.pin) else { return XCTFail("still locked") }
    }
}
