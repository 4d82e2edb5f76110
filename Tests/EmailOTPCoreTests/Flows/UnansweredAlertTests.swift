import XCTest
@testable import EmailOTPAdmin
@testable import EmailOTPConfig
@testable import EmailOTPFlows
@testable import EmailOTPMail
@testable import EmailOTPSystem
@testable import EmailOTPToken

/// `notify = unanswered` (emailotp.conf(5)): a mailed code that expired unused is reported to the
/// user once, with the service and remote host it was asked from.
final class UnansweredAlertTests: FlowTestCase {
    var rhost = "192.0.2.7"
    var service = "sshd"

    override func setUpWithError() throws {
        try super.setUpWithError()
        config.notify = [.unanswered]
        config.resendInterval = 0
        try enroll()
    }

    override func authenticator(pinMode: PINMode = .token) -> Authenticator {
        Authenticator(config: config, pinMode: pinMode, store: store, clock: clock, random: random,
                      mailer: mailer, logger: logger,
                      context: RequestContext(service: service, rhost: rhost, host: "host.example.org"))
    }

    var alerts: [OutgoingMail] { mailer.sent.filter { header("X-EmailOTP-Alert", in: $0) == "unanswered" } }
    var codeMails: [OutgoingMail] { mailer.sent.filter { header("X-EmailOTP-Transaction-Id", in: $0) != nil } }

    /// Challenge mode's first step: the PIN alone mails a code.
    func mailACode() {
        XCTAssertTrue(ChallengeFlow(authenticator()).step(user: "alice", password: Self.pin, nullok: false).isChallenge)
    }

    func answerWithTheCode() -> AuthResult {
        ChallengeFlow(authenticator()).step(user: "alice", password: Self.pin + (lastCode ?? ""), nullok: false).status
    }

    func purge() throws -> [String] {
        let swept = try TokenAdmin(store: store, config: config).purge().unanswered
        for user in swept { authenticator().alertUnanswered(user: user) }
        return swept
    }

    func testACodeLeftToExpireIsAlertedOnceAtTheNextLogin() throws {
        mailACode()
        XCTAssertEqual(try record()?.challenges.first?.origin, ChallengeOrigin(service: "sshd", rhost: "192.0.2.7"))
        clock.advance(config.otpValidity - 1)
        mailACode()
        XCTAssertEqual(alerts, [], "a code replaced before it expired is not reported")
        clock.advance(config.otpValidity)
        // Another login, from elsewhere: the alert names where the code was asked from.
        service = "sudo"
        rhost = ""
        mailACode()
        XCTAssertEqual(alerts.count, 1)
        let alert = try XCTUnwrap(alerts.first)
        XCTAssertEqual(alert.to, "alice@example.com")
        XCTAssertNil(code(in: alert), "an alert carries no code")
        let body = decodeQuotedPrintable(alert.text)
        for words in ["A one-time code mailed to you expired without being used", "for sshd from 192.0.2.7",
                      "Service:     sshd", "Remote host: 192.0.2.7", "got past the first factor",
                      "If this was not you, tell your administrator."] {
            XCTAssertTrue(body.contains(words), "alert lacks \(words):\n\(body)")
        }
        XCTAssertEqual(try record()?.unanswered, [])
        // Nothing is reported twice: more logins, a purge.
        XCTAssertEqual(answerWithTheCode(), .success)
        mailACode()
        XCTAssertEqual(try purge(), [])
        XCTAssertEqual(alerts.count, 1)
    }

    func testAUsedCodeIsNeverAlerted() throws {
        mailACode()
        XCTAssertEqual(answerWithTheCode(), .success)
        clock.advance(config.otpValidity * 3)
        mailACode()
        XCTAssertEqual(try purge(), [])
        XCTAssertEqual(alerts, [])
        XCTAssertTrue(try XCTUnwrap(record()).unanswered.isEmpty)
    }

    /// A wrong code is no use of the code: the challenge still expires unanswered.
    func testACodeAnsweredWronglyIsStillAlerted() throws {
        mailACode()
        XCTAssertEqual(ChallengeFlow(authenticator()).step(user: "alice", password: Self.pin + otherCode(lastCode ?? ""), nullok: false).status,
                       .authError)
        clock.advance(config.otpValidity)
        XCTAssertEqual(try purge(), ["alice"])
        XCTAssertEqual(alerts.count, 1)
    }

    /// The periodic purge mails the alert without waiting for a login, once.
    func testPurgeMailsTheAlert() throws {
        mailACode()
        clock.advance(config.otpValidity)
        XCTAssertEqual(try purge(), ["alice"])
        XCTAssertEqual(alerts.count, 1)
        XCTAssertEqual(try purge(), [])
        mailACode()
        XCTAssertEqual(alerts.count, 1)
    }

    /// Several codes expired since the last alert: one mail names them all.
    func testSeveralCodesMakeOneAlert() throws {
        config.concurrentChallenges = true
        mailACode()
        rhost = "198.51.100.9"
        mailACode()
        clock.advance(config.otpValidity)
        XCTAssertEqual(try purge(), ["alice"])
        XCTAssertEqual(alerts.count, 1)
        let body = decodeQuotedPrintable(try XCTUnwrap(alerts.first).text)
        XCTAssertTrue(body.contains("2 one-time codes mailed to you expired without being used"), body)
        XCTAssertTrue(body.contains("for sshd from 192.0.2.7") && body.contains("for sshd from 198.51.100.9"), body)
    }

    /// A code whose mail never went out (no tries left) was never a code the user saw.
    func testACodeThatWasNeverMailedIsNotAlerted() throws {
        mailer.failure = MailError("relay down")
        _ = ChallengeFlow(authenticator()).step(user: "alice", password: Self.pin, nullok: false)
        try store.update(user: "alice") { record, now in
            record?.challenges = [Challenge(transactionID: "12345678901234567890", codeHash: String(repeating: "a", count: 64),
                                            created: now, expires: now + 30, triesLeft: 0,
                                            origin: ChallengeOrigin(service: "sshd", rhost: "192.0.2.7"))]
        }
        mailer.failure = nil
        clock.advance(60)
        XCTAssertEqual(try purge(), [])
        XCTAssertEqual(alerts, [])
    }

    /// Rate-limited by the alerts' own hourly quota: the codes wait, and are reported once
    /// the quota allows.
    func testTheQuotaDelaysTheAlertWithoutLosingIt() throws {
        config.maxMailsPerHour = 2
        try store.update(user: "alice") { record, now in record?.alerts = [now, now] }
        mailACode()
        clock.advance(config.otpValidity)
        XCTAssertEqual(try purge(), ["alice"])
        XCTAssertEqual(alerts, [])
        XCTAssertTrue(logger.text.contains("unanswered alert not sent: max_mails_per_hour of alerts reached"), logger.text)
        XCTAssertEqual(try record()?.unanswered.count, 1)
        clock.advance(3600)
        XCTAssertEqual(try purge(), ["alice"])
        XCTAssertEqual(alerts.count, 1)
        XCTAssertEqual(try record()?.unanswered, [])
    }

    /// A failing alert mail never changes the login, and is not retried (once per code).
    func testAFailingAlertDoesNotChangeTheLogin() throws {
        mailACode()
        clock.advance(config.otpValidity)
        mailer.whileSending = { [unowned self] mail in
            self.mailer.failure = header("X-EmailOTP-Alert", in: mail) == nil ? nil : MailError("relay down")
        }
        mailACode()
        mailer.whileSending = nil
        mailer.failure = nil
        XCTAssertEqual(answerWithTheCode(), .success)
        XCTAssertTrue(logger.text.contains("unanswered alert mail failed"), logger.text)
        XCTAssertEqual(try record()?.unanswered, [])
    }

    /// Off by default: the record keeps no origin, and nothing waits for an alert.
    func testOffKeepsNoOriginAndNoNotes() throws {
        config.notify = Config().notify
        mailACode()
        XCTAssertNil(try record()?.challenges.first?.origin)
        XCTAssertFalse(RecordFormat.render(try XCTUnwrap(record())).contains(Hex.encode(Array("192.0.2.7".utf8))))
        clock.advance(config.otpValidity)
        XCTAssertEqual(try purge(), [])
        XCTAssertEqual(alerts, [])
        // Turned off while codes wait: they are dropped, never mailed later.
        config.notify = [.unanswered]
        mailACode()
        clock.advance(config.otpValidity)
        config.notify = []
        XCTAssertEqual(try purge(), [])
        config.notify = [.unanswered]
        XCTAssertEqual(try purge(), [])
        XCTAssertEqual(alerts, [])
    }

    func testNotifyListTakesUnanswered() throws {
        XCTAssertEqual(try NotifyEvent.list("lockout, unanswered"), [.lockout, .unanswered])
        XCTAssertThrowsError(try NotifyEvent.list("unanswerd"))
    }
}
