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

    /// The one lockout rule: failures counted at once and deferred misses settled later lock at
    /// the same count, at the same time, and void the open challenges alike; a source locks at
    /// `max_fail_source` either way.
    func testDeferredMissesLockByTheSameRuleAsCountedFailures() {
        var config = Config()
        config.maxFail = 3
        config.maxFailSource = 2
        var counted = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        counted.open(challenge(1, created: t0), config: config)
        var deferred = counted
        for _ in 0..<3 { counted.registerFailure(now: t0, config: config, source: "s") }
        for _ in 0..<3 { deferred.registerFailure(now: t0, config: config, lock: false, source: "s") }
        XCTAssertFalse(deferred.isLocked, "a deferred miss does not lock by itself")
        XCTAssertEqual(deferred.challenges.count, 1)
        deferred.lockIfDue(now: t0, config: config, pending: 1, source: "s")
        XCTAssertFalse(deferred.isLocked, "misses about to be refunded do not count")
        deferred.lockIfDue(now: t0, config: config, source: "s")
        XCTAssertEqual(deferred, counted)
        XCTAssertTrue(counted.isLocked)
        XCTAssertEqual(counted.challenges, [])
        XCTAssertTrue(counted.isBlocked(source: "s"))
        XCTAssertEqual(counted.lockedSources, 1)
    }

    func testResetClearsTheUserAndEverySource() {
        var config = Config()
        config.maxFailSource = 1
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        record.registerFailure(now: t0, config: config, source: "a")
        record.registerFailure(now: t0, config: config, source: "b")
        XCTAssertEqual(record.lockedSources, 2)
        record.reset()
        XCTAssertEqual(record.failCount, 0)
        XCTAssertEqual(record.sources, [])
        XCTAssertFalse(record.isBlocked(source: "a"))
    }

    /// Codes and alerts count over the same hour: a time an hour old, or more than an hour
    /// ahead, is out of both.
    func testCodesAndAlertsShareOneHourlyWindow() {
        var config = Config()
        config.maxMailsPerHour = 2
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        let times: [Int64] = [t0 - 3600, t0 - 3599, t0 + 3600, t0 + 3601]
        record.mails = times
        record.alerts = times
        record.refresh(now: t0, config: config)
        XCTAssertEqual(record.mails, [t0 - 3599, t0 + 3600])
        XCTAssertFalse(record.mayMailCode(config: config))
        XCTAssertFalse(record.reserveAlert(now: t0, config: config))
        XCTAssertEqual(record.alerts, record.mails)
    }

    /// A challenge is answerable only once armed; a withdrawn one gives its mail back.
    func testArmAndWithdraw() {
        let config = Config()
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        var unarmed = challenge(1, created: t0)
        unarmed.triesLeft = 0
        record.openMailed(unarmed, config: config)
        XCTAssertEqual(record.mails, [t0])
        XCTAssertEqual(record.targets(transactionID: nil, config: config), [])
        XCTAssertNil(record.newestArmedChallenge)
        record.arm(unarmed.transactionID, tries: 3)
        XCTAssertEqual(record.targets(transactionID: unarmed.transactionID, config: config).map(\.triesLeft), [3])
        record.withdraw(unarmed)
        XCTAssertEqual(record.challenges, [])
        XCTAssertEqual(record.mails, [])
    }
}
