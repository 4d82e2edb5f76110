import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPToken

/// The per-token rules as pure functions: expiry, lock and unlock, mail window, challenge slots.
final class TokenRulesTests: XCTestCase {
    let t0: Int64 = 1_764_230_000

    func challenge(_ n: Int, created: Int64, validity: Int64 = 300) -> Challenge {
        let id = String(repeating: "0", count: 19) + String(n % 10)
        return Challenge(transactionID: id, codeHash: String(repeating: "a", count: 64), created: created,
                         expires: created + validity, triesLeft: 3)
    }

    func testChallengeExpiresAtItsExpiryTime() {
        let c = challenge(1, created: t0)
        XCTAssertFalse(c.isExpired(at: t0))
        XCTAssertFalse(c.isExpired(at: t0 + 299))
        XCTAssertTrue(c.isExpired(at: t0 + 300))
        XCTAssertTrue(c.isExpired(at: t0 + 301))
    }

    func testRegisterFailureLocksAtMaxFail() {
        var config = Config()
        config.maxFail = 3
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        record.registerFailure(now: t0, config: config)
        record.registerFailure(now: t0, config: config)
        XCTAssertFalse(record.isLocked)
        record.registerFailure(now: t0 + 5, config: config)
        XCTAssertTrue(record.isLocked)
        XCTAssertEqual(record.lockedAt, t0 + 5)
        record.registerFailure(now: t0 + 9, config: config)
        XCTAssertEqual(record.lockedAt, t0 + 5, "further failures do not extend the lock")
        XCTAssertEqual(record.failCount, 4)
    }

    func testRegisterSuccessClears() {
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        record.failCount = 7
        record.lockedAt = t0
        record.registerSuccess()
        XCTAssertEqual(record.failCount, 0)
        XCTAssertFalse(record.isLocked)
    }

    func testRefreshUnlocksAfterUnlockTime() {
        var config = Config()
        config.unlockTime = 900
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        record.failCount = 10
        record.lockedAt = t0
        record.refresh(now: t0 + 899, config: config)
        XCTAssertTrue(record.isLocked)
        XCTAssertEqual(record.failCount, 10)
        record.refresh(now: t0 + 900, config: config)
        XCTAssertFalse(record.isLocked)
        XCTAssertEqual(record.failCount, 0)
    }

    func testUnlockTimeZeroNeverUnlocks() {
        var config = Config()
        config.unlockTime = 0
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        record.failCount = 10
        record.lockedAt = t0
        record.refresh(now: t0 + 100 * 365 * 86400, config: config)
        XCTAssertTrue(record.isLocked)
    }

    func testRefreshDropsExpiredChallengesAndOldMailTimes() {
        let config = Config()
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        record.challenges = [challenge(1, created: t0 - 300), challenge(2, created: t0 - 299)]
        record.mails = [t0 - 3600, t0 - 3599, t0, t0 + 7200]
        record.refresh(now: t0, config: config)
        XCTAssertEqual(record.challenges.map(\.transactionID), [challenge(2, created: 0).transactionID])
        XCTAssertEqual(record.mails, [t0 - 3599, t0], "the last hour counts; times in the future are dropped")
    }

    func testNewestChallenge() {
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        XCTAssertNil(record.newestChallenge)
        record.challenges = [challenge(1, created: t0 + 10), challenge(2, created: t0 + 30), challenge(3, created: t0 + 20)]
        XCTAssertEqual(record.newestChallenge?.created, t0 + 30)
    }

    func testOpenWithoutConcurrentChallengesVoidsTheOthers() {
        var config = Config()
        config.concurrentChallenges = false
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        record.open(challenge(1, created: t0), config: config)
        record.open(challenge(2, created: t0 + 1), config: config)
        XCTAssertEqual(record.challenges, [challenge(2, created: t0 + 1)])
    }

    func testOpenWithConcurrentChallengesKeepsMaxOpenDroppingTheOldest() {
        var config = Config()
        config.concurrentChallenges = true
        config.maxOpenChallenges = 3
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        for n in 1...5 { record.open(challenge(n, created: t0 + Int64(n)), config: config) }
        XCTAssertEqual(record.challenges.map(\.created), [t0 + 3, t0 + 4, t0 + 5])
        config.maxOpenChallenges = 1
        record.open(challenge(6, created: t0 + 6), config: config)
        XCTAssertEqual(record.challenges.map(\.created), [t0 + 6])
    }
}
