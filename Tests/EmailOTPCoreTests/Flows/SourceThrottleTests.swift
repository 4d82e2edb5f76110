import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPToken

/// Per-source throttling (SourceThrottle.swift): wrong answers from one source lock that
/// source, never the user's logins from another; the user-wide lock stays, far higher.
final class SourceThrottleTests: FlowTestCase {
    static let attacker = "198.51.100.9"
    static let home = "192.0.2.7"

    func from(_ rhost: String, pinMode: PINMode = .token, tty: String = "", ruser: String = "") -> Authenticator {
        Authenticator(config: config, pinMode: pinMode, store: store, clock: clock, random: random, mailer: mailer,
                      logger: logger, context: RequestContext(service: "sshd", rhost: rhost, host: "host.example.org",
                                                              tty: tty, ruser: ruser))
    }

    func login(_ a: Authenticator, pin: String = FlowTestCase.pin) -> AuthResult {
        InteractiveFlow(a).run(user: "alice", conversation: ScriptedConversation([answer(pin), mailedCode()]), nullok: false,
                      stackPIN: nil, firstPass: .no).status
    }

    func wrongPINs(_ count: Int, _ a: Authenticator) {
        for _ in 0..<count { XCTAssertEqual(login(a, pin: "wrong"), .authError) }
    }

    func testTenWrongPINsFromOneSourceNeverLockTheUserOutOfAnother() throws {
        try enroll()
        wrongPINs(10, from(Self.attacker))
        XCTAssertEqual(try record()?.failCount, 10, "every wrong PIN counted")
        XCTAssertFalse(try XCTUnwrap(record()).isLocked, "not the user")
        XCTAssertEqual(try record()?.lockedSources, 1)
        // The attacker's source is locked: even the right PIN is refused there, and no mail goes.
        XCTAssertEqual(login(from(Self.attacker)), .authError)
        XCTAssertEqual(mailer.sent.count, 0)
        // The user, from home: PIN and code, granted.
        XCTAssertEqual(login(from(Self.home)), .success)
        XCTAssertEqual(mailer.sent.count, 1)
        let after = try XCTUnwrap(record())
        XCTAssertEqual(after.failCount, 0)
        XCTAssertEqual(after.lockedSources, 1, "the attacker's source stays locked until unlock_time")
        // unlock_time frees it.
        clock.advance(config.unlockTime)
        XCTAssertEqual(login(from(Self.attacker)), .success)
        XCTAssertEqual(try record()?.sources, [])
    }

    func testTheUserWideLockStillEngagesAtItsCount() throws {
        config.maxFail = 25
        try enroll()
        wrongPINs(10, from("198.51.100.1"))
        wrongPINs(10, from("198.51.100.2"))
        XCTAssertFalse(try XCTUnwrap(record()).isLocked)
        wrongPINs(5, from("198.51.100.3"))
        let locked = try XCTUnwrap(record())
        XCTAssertTrue(locked.isLocked, "max_fail failures from everywhere lock the token")
        XCTAssertEqual(locked.failCount, 25)
        XCTAssertEqual(login(from(Self.home)), .authError)
        XCTAssertEqual(mailer.sent.count, 0)
    }

    func testLocalLoginsAreSourcesByTerminalAndCallingUser() throws {
        try enroll()
        wrongPINs(10, from("", tty: "/dev/pts/3", ruser: "mallory"))
        XCTAssertEqual(login(from("", tty: "/dev/pts/3", ruser: "mallory")), .authError)
        XCTAssertEqual(login(from("", tty: "/dev/pts/4", ruser: "alice")), .success)
    }

    func testARememberedHostKeepsWorkingWhileAnotherSourceIsLocked() throws {
        config.remember = 3600
        try enroll()
        XCTAssertEqual(login(from(Self.home)), .success)
        wrongPINs(10, from(Self.attacker))
        let mails = mailer.sent.count
        XCTAssertEqual(InteractiveFlow(from(Self.home)).run(user: "alice", conversation: ScriptedConversation([answer(Self.pin)]),
                                                   nullok: false, stackPIN: nil, firstPass: .no).status, .success)
        XCTAssertEqual(mailer.sent.count, mails, "remembered: no code")
    }

    func testARecoveryCodeKeepsWorkingFromAnotherSource() throws {
        try enroll()
        let hash = try RecoveryCode.hash("abcde-12345", random: OpenSSLRandom())
        try store.update(user: "alice") { $0?.recoveryHashes = [hash] }
        wrongPINs(10, from(Self.attacker))
        XCTAssertEqual(ChallengeFlow(from(Self.attacker)).step(user: "alice", password: Self.pin + "abcde-12345", nullok: false).status,
                       .authError, "not from the locked source")
        XCTAssertEqual(try record()?.recoveryHashes.count, 1)
        XCTAssertEqual(ChallengeFlow(from(Self.home)).step(user: "alice", password: Self.pin + "abcde-12345", nullok: false).status,
                       .success)
    }

    func testARightAnswerRefundsItsSourceToo() throws {
        try enroll()
        XCTAssertEqual(login(from(Self.attacker)), .success)
        XCTAssertEqual(try record()?.sources, [], "a charge refunded leaves no source behind")
    }

    func testTheSourcesStayBoundedAndExpire() throws {
        try enroll()
        for n in 0..<25 { wrongPINs(1, from("203.0.113.\(n)")) }
        XCTAssertEqual(try record()?.sources.count, TokenRecord.maxSources)
        clock.advance(config.unlockTime)
        XCTAssertEqual(login(from(Self.home)), .success)
        XCTAssertEqual(try record()?.sources, [], "a source's failures are forgotten after unlock_time")
    }

    func testTheRecordKeepsTheSourcesAndReadsOldRecords() throws {
        var r = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        r.sources = [SourceFailures(id: String(repeating: "ab", count: 32), count: 3, last: 1_700_000_000, lockedAt: 0),
                     SourceFailures(id: String(repeating: "cd", count: 32), count: 10, last: 1_700_000_100, lockedAt: 1_700_000_100)]
        let text = RecordFormat.render(r)
        XCTAssertTrue(text.contains("source \(String(repeating: "cd", count: 32)) 10 1700000100 1700000100\n"))
        XCTAssertEqual(try RecordFormat.parse(text, expectedUser: "alice"), r)
        let old = "emailotp-token 2\nuser alice\nemail alice@example.com\npin -\nstate enabled\nfail_count 4\nlocked_at 0\nmails\n"
        XCTAssertEqual(try RecordFormat.parse(old, expectedUser: "alice").sources, [])
        XCTAssertThrowsError(try RecordFormat.parse(old + "source xyz 1 2 3\n", expectedUser: "alice"))
    }
}
