import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPMail
@testable import EmailOTPToken

/// Remembered hosts and alert mails (emailotp(8), emailotp.conf(5)).
final class RememberAlertTests: FlowTestCase {
    var rhost = "192.0.2.7"
    var service = "sshd"

    override func authenticator(pinMode: PINMode = .token) -> Authenticator {
        Authenticator(config: config, pinMode: pinMode, store: store, clock: clock, random: random,
                      mailer: mailer, logger: logger,
                      context: RequestContext(service: service, rhost: rhost, host: "host.example.org"))
    }

    func signIn(_ answers: [(String) -> String?], pinMode: PINMode = .token) -> (AuthResult, ScriptedConversation) {
        let conversation = ScriptedConversation(answers)
        let result = InteractiveFlow(authenticator(pinMode: pinMode)).run(user: "alice", conversation: conversation, nullok: false,
                                                                  stackPIN: nil, firstPass: .no).status
        return (result, conversation)
    }

    var codeMails: [OutgoingMail] { mailer.sent.filter { header("X-EmailOTP-Transaction-Id", in: $0) != nil } }
    func alerts(_ name: String) -> [OutgoingMail] { mailer.sent.filter { header("X-EmailOTP-Alert", in: $0) == name } }

    /// A full login (PIN and mailed code); true when a code was mailed and accepted.
    @discardableResult
    func fullLogin(file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let before = codeMails.count
        let (result, _) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .success, file: file, line: line)
        return codeMails.count == before + 1
    }

    /// A login that only gets the PIN prompt's answer; true when it succeeded without a mail.
    func skippedLogin(pin: String = FlowTestCase.pin) -> Bool {
        let before = mailer.sent.count
        let (result, conversation) = signIn([answer(pin)])
        return result == .success && mailer.sent.count == before && conversation.prompts == ["PIN: "]
    }

    // MARK: remember

    func testRememberedHostSkipsMailAndCodeButNotThePIN() throws {
        config.remember = 600
        try enroll()
        XCTAssertTrue(fullLogin())
        XCTAssertEqual(try record()?.remembered.count, 1)
        XCTAssertTrue(skippedLogin())
        XCTAssertTrue(logger.text.contains("remembered remote host"))
        // A wrong PIN from a remembered host is a wrong PIN, counted by the ordinary flow.
        let (result, conversation) = signIn([answer("wrong-pin")])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.prompts, ["PIN: "])
        XCTAssertEqual(try record()?.failCount, 1)
    }

    func testRememberIsOffByDefault() throws {
        try enroll()
        fullLogin()
        XCTAssertEqual(try record()?.remembered, [])
        XCTAssertTrue(fullLogin())
    }

    func testRememberIsKeyedByServiceAndRemoteHost() throws {
        config.remember = 600
        try enroll()
        fullLogin()
        service = "sudo"
        XCTAssertTrue(fullLogin(), "another service asks for a code")
        service = "sshd"
        rhost = "192.0.2.8"
        XCTAssertTrue(fullLogin(), "another remote host asks for a code")
        rhost = "192.0.2.7"
        XCTAssertTrue(skippedLogin())
        let ids = try XCTUnwrap(try record()).remembered.map(\.id)
        XCTAssertEqual(Set(ids).count, 3)
        XCTAssertFalse(RecordFormat.render(try XCTUnwrap(try record())).contains("192.0.2"), "hosts are stored as keyed hashes")
    }

    func testEmptyRemoteHostIsNeverRemembered() throws {
        config.remember = 600
        rhost = ""
        try enroll()
        fullLogin()
        XCTAssertEqual(try record()?.remembered, [])
        XCTAssertTrue(fullLogin())
    }

    func testExpiryBoundary() throws {
        config.remember = 600
        try enroll()
        fullLogin()
        clock.advance(599)
        XCTAssertTrue(skippedLogin(), "one second before the end")
        clock.advance(1)
        XCTAssertTrue(fullLogin(), "at the end the code is asked again")
        clock.advance(599)
        XCTAssertTrue(skippedLogin(), "the full login started a new window")
    }

    func testRememberedLoginsDoNotExtendTheWindow() throws {
        config.remember = 600
        try enroll()
        fullLogin()
        clock.advance(500)
        XCTAssertTrue(skippedLogin())
        clock.advance(100)
        XCTAssertTrue(fullLogin())
    }

    func testOnlyTheNewestTenHostsAreKept() throws {
        config.remember = 3600
        config.maxMailsPerHour = 100
        try enroll()
        for n in 1...12 {
            rhost = "198.51.100.\(n)"
            fullLogin()
            clock.advance(1)
        }
        XCTAssertEqual(try record()?.remembered.count, 10)
        rhost = "198.51.100.1"
        XCTAssertTrue(fullLogin(), "the oldest went")
        rhost = "198.51.100.12"
        XCTAssertTrue(skippedLogin())
    }

    func testForgettingDropsTheTrust() throws {
        config.remember = 600
        try enroll()
        fullLogin()
        try store.update(user: "alice") { $0?.remembered.removeAll() }
        XCTAssertTrue(fullLogin())
    }

    /// A recovery code stands in for a lost mailbox: its login is not remembered.
    func testARecoveryCodeLoginRemembersNoHost() throws {
        config.remember = 600
        try enroll()
        let hash = try RecoveryCode.hash("abcde-12345", random: OpenSSLRandom())
        try store.update(user: "alice") { $0?.recoveryHashes = [hash] }
        XCTAssertEqual(signIn([answer(Self.pin), answer("abcde-12345")]).0, .success)
        XCTAssertEqual(try record()?.remembered, [])
        XCTAssertFalse(skippedLogin())
    }

    /// A new address or a new set of recovery codes ends every remembered host and cached grant.
    func testSetEmailAndRecoveryCodesDropRememberedHostsAndCachedGrants() throws {
        config.remember = 600
        config.resendInterval = 0
        try enroll()
        for change in [{ (r: inout TokenRecord) in r.replaceEmail("new@example.com") },
                       { (r: inout TokenRecord) in r.replaceRecoveryCodes([]) }] {
            XCTAssertTrue(fullLogin())
            try store.update(user: "alice") { $0?.cachedGrants = [CachedGrant(hash: String(repeating: "ab", count: 32), granted: 1, expires: clock.now() + 60)] }
            XCTAssertTrue(skippedLogin())
            try store.update(user: "alice") { if $0 != nil { change(&$0!) } }
            XCTAssertEqual(try record()?.remembered, [])
            XCTAssertEqual(try record()?.cachedGrants, [])
            XCTAssertFalse(skippedLogin())
        }
    }

    func testLockedOrDisabledTokenIsNotLetInByARememberedHost() throws {
        config.remember = 600
        try enroll()
        fullLogin()
        try store.update(user: "alice") { $0?.lockedAt = self.clock.now() }
        XCTAssertFalse(skippedLogin())
        try store.update(user: "alice") { $0?.lockedAt = 0; $0?.enabled = false }
        XCTAssertFalse(skippedLogin())
    }

    func testPinNoneRememberedHostAsksNothing() throws {
        config.remember = 600
        try enroll(pin: nil)
        let (first, _) = signIn([mailedCode()], pinMode: .none)
        XCTAssertEqual(first, .success)
        let (second, conversation) = signIn([], pinMode: .none)
        XCTAssertEqual(second, .success)
        XCTAssertEqual(conversation.prompts, [])
    }

    func testChallengeModeRememberedHostTakesThePINAlone() throws {
        config.remember = 600
        try enroll()
        let trigger = ChallengeFlow(authenticator()).step(user: "alice", password: Self.pin, nullok: false)
        XCTAssertTrue(trigger.isChallenge)
        let code = try XCTUnwrap(lastCode)
        XCTAssertEqual(ChallengeFlow(authenticator()).step(user: "alice", password: Self.pin + code, nullok: false).status, .success)
        let mails = mailer.sent.count
        XCTAssertEqual(ChallengeFlow(authenticator()).step(user: "alice", password: Self.pin, nullok: false).status, .success)
        XCTAssertEqual(mailer.sent.count, mails)
    }

    // MARK: alerts

    func testAlertDefaults() {
        XCTAssertEqual(Config().notify, [.lockout, .recovery])
        XCTAssertEqual(Config().remember, 0)
    }

    func testLockoutMailsOneAlert() throws {
        config.notify = [.lockout]
        config.maxFail = 2
        try enroll()
        for _ in 0..<3 { _ = signIn([answer("wrong-pin")]) }
        XCTAssertEqual(try record()?.isLocked, true)
        let alert = try XCTUnwrap(alerts("lockout").first)
        XCTAssertEqual(alerts("lockout").count, 1, "one alert per lock")
        XCTAssertEqual(alert.to, "alice@example.com")
        let body = decodeQuotedPrintable(alert.text)
        for word in ["locked", "host.example.org", "sshd", "192.0.2.7", "If this was not you, tell your administrator."] {
            XCTAssertTrue(body.contains(word), "alert lacks \(word):\n\(body)")
        }
        XCTAssertNil(code(in: alert), "an alert carries no code")
        // After an unlock, the next lock is alerted again.
        try store.update(user: "alice") { $0?.registerSuccess() }
        clock.advance(1)
        for _ in 0..<2 { _ = signIn([answer("wrong-pin")]) }
        XCTAssertEqual(alerts("lockout").count, 2)
    }

    func testLockoutByWrongCodesIsAlertedToo() throws {
        config.notify = [.lockout]
        config.maxFail = 2
        config.otpTries = 3
        try enroll()
        _ = signIn([answer(Self.pin), wrongCode(), wrongCode(), wrongCode()])
        XCTAssertEqual(alerts("lockout").count, 1)
    }

    func testRecoveryUseIsAlerted() throws {
        config.notify = [.recovery]
        try enroll()
        let hash = try RecoveryCode.hash("abcde-12345", random: OpenSSLRandom())
        try store.update(user: "alice") { $0?.recoveryHashes = [hash] }
        XCTAssertEqual(signIn([answer(Self.pin), answer("abcde-12345")]).0, .success)
        let body = decodeQuotedPrintable(try XCTUnwrap(alerts("recovery").first).text)
        XCTAssertTrue(body.contains("A recovery code was used to log in. 0 recovery codes are left."), body)
    }

    func testNotifyCanBeTurnedOff() throws {
        config.notify = try NotifyEvent.list("none")
        config.maxFail = 1
        try enroll()
        _ = signIn([answer("wrong-pin")])
        XCTAssertEqual(mailer.sent, [])
    }

    func testNewHostAlertOnlyForAHostNotAmongTheLastTen() throws {
        config.notify = [.newHost]
        try enroll()
        fullLogin()
        XCTAssertEqual(alerts("new_host").count, 1, "the first remote host is new")
        fullLogin()
        XCTAssertEqual(alerts("new_host").count, 1, "the same host again is not")
        service = "sudo"
        fullLogin()
        XCTAssertEqual(alerts("new_host").count, 1, "another service from the same host is not")
        rhost = "203.0.113.9"
        fullLogin()
        XCTAssertEqual(alerts("new_host").count, 2)
        let body = decodeQuotedPrintable(try XCTUnwrap(alerts("new_host").last).text)
        XCTAssertTrue(body.contains("203.0.113.9"), body)
    }

    func testNewHostIsOffByDefault() throws {
        config.notify = Config().notify
        try enroll()
        fullLogin()
        XCTAssertEqual(alerts("new_host").count, 0)
        XCTAssertEqual(try record()?.recentHosts, [])
    }

    func testAlertsHaveTheirOwnQuota() throws {
        config.maxMailsPerHour = 2
        config.maxFail = 1
        config.notify = [.lockout, .newHost]
        try enroll()
        // Two code mails use up the code quota...
        fullLogin()
        rhost = "203.0.113.1"
        fullLogin()
        XCTAssertEqual(try record()?.mails.count, 2)
        XCTAssertEqual(alerts("new_host").count, 2)
        // ...and the alert quota is used up too now: a lockout alert is logged, not sent.
        _ = signIn([answer("wrong-pin")])
        XCTAssertEqual(alerts("lockout").count, 0)
        XCTAssertTrue(logger.text.contains("lockout alert not sent: max_mails_per_hour of alerts reached"))
        // An hour later both quotas are back: the next lock is alerted.
        clock.advance(3601)
        try store.update(user: "alice") { $0?.failCount = 0; $0?.lockedAt = 0 }
        _ = signIn([answer("wrong-pin")])
        XCTAssertEqual(alerts("lockout").count, 1)
        XCTAssertEqual(try record()?.mails.count, 0, "alerts never count as code mails")
    }

    func testAlertsDoNotUseTheCodeQuota() throws {
        config.notify = [.lockout]
        config.maxMailsPerHour = 1
        config.maxFail = 1
        try enroll()
        _ = signIn([answer("wrong-pin")])
        XCTAssertEqual(alerts("lockout").count, 1)
        try store.update(user: "alice") { $0?.registerSuccess() }
        XCTAssertTrue(fullLogin(), "the code mail still goes out")
    }

    func testFailingAlertChangesNothing() throws {
        config.notify = [.lockout]
        config.maxFail = 1
        try enroll()
        mailer.failure = MailError("connection refused")
        let (result, _) = signIn([answer("wrong-pin")])
        XCTAssertEqual(result, .authError)
        XCTAssertTrue(logger.text.contains("lockout alert mail failed"))
        mailer.failure = nil
        config.notify = [.newHost]
        try store.update(user: "alice") { $0?.registerSuccess() }
        mailer.whileSending = { [unowned self] mail in
            self.mailer.failure = header("X-EmailOTP-Alert", in: mail) != nil ? MailError("down") : nil
        }
        XCTAssertEqual(signIn([answer(Self.pin), mailedCode()]).0, .success)
        XCTAssertTrue(logger.text.contains("new_host alert mail failed"))
    }
}
