import Glibc
import XCTest
@testable import EmailOTPAdmin
@testable import EmailOTPCrypto
@testable import EmailOTPStore
@testable import EmailOTPToken

/// The rules of the `emailotp` verbs (EmailOTPAdmin's TokenAdmin), over a file store in a
/// temporary directory.
final class TokenAdminTests: FlowTestCase {
    var admin: TokenAdmin { TokenAdmin(store: store, config: config) }

    /// A record with something in every field a verb may drop.
    @discardableResult
    func enrollFull(_ user: String = "alice") throws -> TokenRecord {
        var record = TokenRecord(user: user, email: "\(user)@example.com", pinHash: try Self.hash(Self.pin))
        record.failCount = 2
        record.challenges = [Challenge(transactionID: "12345678901234567890", codeHash: String(repeating: "a", count: 64),
                                       created: clock.now(), expires: clock.now() + 300, triesLeft: 3)]
        record.cachedGrants = [CachedGrant(hash: String(repeating: "b", count: 64), granted: clock.now(), expires: clock.now() + 600)]
        record.remembered = [RememberedHost(id: String(repeating: "c", count: 64), created: clock.now(), expires: clock.now() + 600)]
        record.recoveryHashes = ["$y$old"]
        try store.update(user: user) { $0 = record }
        return record
    }

    func testEnrollCreatesOnlyIfAbsent() throws {
        try admin.enroll(user: "alice", email: "alice@example.com", pinHash: nil)
        XCTAssertEqual(try record()?.email, "alice@example.com")
        XCTAssertNil(try record()?.pinHash)
        XCTAssertThrowsError(try admin.requireNoToken("alice")) { XCTAssertEqual($0 as? TokenAdminError, .exists("alice")) }
        // A token made between the check and the write is never overwritten.
        XCTAssertThrowsError(try admin.enroll(user: "alice", email: "mallory@example.com", pinHash: nil)) {
            XCTAssertEqual($0 as? TokenAdminError, .enrolledMeanwhile("alice"))
        }
        XCTAssertEqual(try record()?.email, "alice@example.com")
    }

    func testEnrollWithoutAddressStoresNone() throws {
        try admin.enroll(user: "erin", email: "", pinHash: try Self.hash(Self.pin))
        XCTAssertEqual(try record("erin")?.email, "")
        XCTAssertNotNil(try record("erin")?.pinHash)
    }

    func testSetPINDropsCachedGrantsAndKeepsTheRest() throws {
        let before = try enrollFull()
        try admin.setPIN(user: "alice", pinHash: "$y$new")
        let after = try XCTUnwrap(try record())
        XCTAssertEqual(after.pinHash, "$y$new")
        XCTAssertEqual(after.cachedGrants, [])
        XCTAssertEqual(after.challenges, before.challenges)
        XCTAssertEqual(after.remembered, before.remembered)
        XCTAssertEqual(after.failCount, before.failCount)
    }

    func testSetEmailVoidsChallenges() throws {
        try enrollFull()
        try admin.setEmail(user: "alice", address: "new@example.com")
        let after = try XCTUnwrap(try record())
        XCTAssertEqual(after.email, "new@example.com")
        XCTAssertEqual(after.challenges, [])
    }

    func testDisableVoidsChallengesAndEnableKeepsThemVoid() throws {
        try enrollFull()
        try admin.disable(user: "alice")
        var after = try XCTUnwrap(try record())
        XCTAssertFalse(after.enabled)
        XCTAssertEqual(after.challenges, [])
        try admin.enable(user: "alice")
        after = try XCTUnwrap(try record())
        XCTAssertTrue(after.enabled)
        XCTAssertEqual(after.challenges, [])
    }

    func testResetClearsFailCountAndLock() throws {
        var record = try enrollFull()
        record.lockedAt = clock.now()
        try store.update(user: "alice") { $0 = record }
        try admin.reset(user: "alice")
        let after = try XCTUnwrap(try self.record())
        XCTAssertEqual(after.failCount, 0)
        XCTAssertFalse(after.isLocked)
    }

    func testDeleteRemovesTheRecord() throws {
        try enrollFull()
        try admin.delete(user: "alice")
        XCTAssertNil(try record())
        XCTAssertThrowsError(try admin.delete(user: "alice")) { XCTAssertEqual($0 as? TokenAdminError, .noToken("alice")) }
    }

    func testEveryChangeOfAMissingTokenIsNoToken() throws {
        let calls: [(String, () throws -> Void)] = [
            ("set-pin", { try self.admin.setPIN(user: "nobody", pinHash: "$y$x") }),
            ("set-email", { try self.admin.setEmail(user: "nobody", address: "a@example.com") }),
            ("disable", { try self.admin.disable(user: "nobody") }),
            ("enable", { try self.admin.enable(user: "nobody") }),
            ("reset", { try self.admin.reset(user: "nobody") }),
            ("delete", { try self.admin.delete(user: "nobody") }),
            ("forget", { _ = try self.admin.forget(user: "nobody") }),
            ("recovery-codes", { _ = try self.admin.replaceRecoveryCodes(user: "nobody", count: 1, random: self.random) }),
            ("require", { try self.admin.requireToken("nobody") }),
        ]
        for (verb, call) in calls {
            XCTAssertThrowsError(try call(), verb) { XCTAssertEqual($0 as? TokenAdminError, .noToken("nobody"), verb) }
        }
        // and none of them made a record
        XCTAssertEqual(try store.users(), [])
    }

    func testPurgeDropsExpiredChallengesAndHostsAndUnlocksOnTheStoresClock() throws {
        config.unlockTime = 600
        var record = try enrollFull()
        record.challenges.append(Challenge(transactionID: "09876543210987654321", codeHash: String(repeating: "d", count: 64),
                                           created: clock.now(), expires: clock.now() + 30, triesLeft: 3))
        record.lockedAt = clock.now()
        try store.update(user: "alice") { $0 = record }
        try enrollFull("bob")
        clock.advance(60)
        var dropped = try admin.purge()
        XCTAssertEqual(dropped.challenges, 1)
        XCTAssertEqual(dropped.hosts, 0)
        XCTAssertEqual(try self.record()?.challenges.count, 1)
        XCTAssertTrue(try XCTUnwrap(try self.record()).isLocked)
        clock.advance(600)
        dropped = try admin.purge()
        XCTAssertEqual(dropped.challenges, 2)  // the 300 s challenges of alice and bob
        XCTAssertEqual(dropped.hosts, 2)       // and their hosts remembered for 600 s
        XCTAssertEqual(try self.record()?.remembered, [])
        XCTAssertFalse(try XCTUnwrap(try self.record()).isLocked)
    }

    func testForgetDropsRememberedHostsAndCachedGrantsOnly() throws {
        let before = try enrollFull()
        let dropped = try admin.forget(user: "alice")
        XCTAssertEqual(dropped.hosts, 1)
        XCTAssertEqual(dropped.grants, 1)
        let after = try XCTUnwrap(try record())
        XCTAssertEqual(after.remembered, [])
        XCTAssertEqual(after.cachedGrants, [])
        XCTAssertEqual(after.challenges, before.challenges)
        XCTAssertEqual(after.recoveryHashes, before.recoveryHashes)
    }

    func testRecoveryCodesReplaceThePreviousSetAndStoreOnlyHashes() throws {
        try enrollFull()
        let codes = try admin.replaceRecoveryCodes(user: "alice", count: 3, random: random)
        XCTAssertEqual(codes.count, 3)
        let after = try XCTUnwrap(try record())
        XCTAssertEqual(after.recoveryHashes.count, 3)
        XCTAssertFalse(after.recoveryHashes.contains("$y$old"))
        for code in codes {
            XCTAssertFalse(after.recoveryHashes.contains(code))
            XCTAssertNotNil(RecoveryCode.match(try XCTUnwrap(RecoveryCode.normalized(code)), hashes: after.recoveryHashes))
        }
    }

    func testMigrateCopiesWithoutChallengesAndNeverOverwrites() throws {
        let source = FileStore(directory: "\(root)/source", owner: geteuid(), random: random, clock: clock)
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: "$y$source")
        record.challenges = [Challenge(transactionID: "12345678901234567890", codeHash: String(repeating: "a", count: 64),
                                       created: clock.now(), expires: clock.now() + 300, triesLeft: 3)]
        try source.update(user: "alice") { $0 = record }
        try source.update(user: "bob") { $0 = TokenRecord(user: "bob", email: "bob@example.com", pinHash: "$y$source") }
        try admin.enroll(user: "bob", email: "bob@here.example.com", pinHash: nil)

        XCTAssertEqual(try admin.migrate(user: "alice", from: source), .copied)
        XCTAssertEqual(try admin.migrate(user: "bob", from: source), .skipped)
        XCTAssertNil(try admin.migrate(user: "carol", from: source))
        XCTAssertEqual(try self.record()?.pinHash, "$y$source")
        XCTAssertEqual(try self.record()?.challenges, [])
        XCTAssertEqual(try self.record("bob")?.email, "bob@here.example.com")
        // a second run changes nothing
        XCTAssertEqual(try admin.migrate(user: "alice", from: source), .skipped)
    }
}
