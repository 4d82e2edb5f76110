import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPHelper
@testable import EmailOTPMail

/// `mode=challenge` and `emailotp check`: PIN alone triggers, PIN + code grants, or the
/// transaction id with the code alone.
final class ChallengeFlowTests: FlowTestCase {
    func step(_ password: String, user: String = "alice", nullok: Bool = false, pinMode: PINMode = .token) -> FlowResult {
        ChallengeFlow(authenticator(pinMode: pinMode)).step(user: user, password: password, nullok: nullok)
    }

    func answer(_ transactionID: String, _ code: String, user: String = "alice") -> FlowResult {
        ChallengeFlow(authenticator()).answer(user: user, transactionID: transactionID, code: code)
    }

    /// Triggers with `pin`, checks that one new mail went out, returns (transaction id, code).
    func trigger(_ pin: String = FlowTestCase.pin, user: String = "alice",
                 file: StaticString = #filePath, line: UInt = #line) throws -> (id: String, code: String) {
        let before = mailer.sent.count
        let report = step(pin, user: user)
        XCTAssertEqual(report.status, .authError, file: file, line: line)
        XCTAssertTrue(report.isChallenge, file: file, line: line)
        XCTAssertEqual(mailer.sent.count, before + 1, "one mail per trigger", file: file, line: line)
        let id = try XCTUnwrap(report.challenge?.transactionID, file: file, line: line)
        return (id, try XCTUnwrap(lastCode, file: file, line: line))
    }

    func testPINAloneTriggersAChallenge() throws {
        try enroll()
        let report = step(Self.pin)
        XCTAssertEqual(report.status, .authError, "the first step is denied")
        XCTAssertTrue(report.isChallenge)
        let id = try XCTUnwrap(report.challenge?.transactionID)
        XCTAssertEqual(id.count, 20)
        XCTAssertTrue(id.isASCIIDigits)
        XCTAssertTrue(report.message.contains("Transaction id: \(id)."), report.message)
        XCTAssertEqual(report.message,
                       "A code was sent to a***@e******.com, valid for 5 minutes. Transaction id: \(id). "
                           + "Log in again with your PIN followed by the code.")
        XCTAssertEqual(mailer.sent.count, 1)
        let mail = try XCTUnwrap(mailer.sent.first)
        XCTAssertEqual(header("X-EmailOTP-Transaction-Id", in: mail), id)
        XCTAssertEqual(try record()?.challenges.map(\.transactionID), [id])
        XCTAssertEqual(try record()?.failCount, 0)
    }

    func testPINPlusCodeGrants() throws {
        try enroll()
        let (_, code) = try trigger()
        XCTAssertEqual(step(Self.pin + code).status, .success)
        XCTAssertEqual(mailer.sent.count, 1, "the second step sends no mail")
        XCTAssertEqual(try record()?.challenges, [])
    }

    func testPINPlusCodeGrantsOnlyOnce() throws {
        try enroll()
        let (_, code) = try trigger()
        XCTAssertEqual(step(Self.pin + code).status, .success)
        XCTAssertNotEqual(step(Self.pin + code).status, .success)
    }

    func testPINsOfAnyLength() throws {
        let pins = ["abcd", "x", "1234", "12345678901", "pässwörd", "a long pass phrase with spaces " + String(repeating: "z", count: 80)]
        for (index, pin) in pins.enumerated() {
            let user = "user\(index)"
            try enroll(user, email: "\(user)@example.com", pin: pin)
            let (_, code) = try trigger(pin, user: user)
            XCTAssertEqual(step(pin + code, user: user).status, .success, "PIN \(pin)")
            XCTAssertEqual(try record(user)?.failCount, 0, "PIN \(pin)")
        }
    }

    func testPINEndingInDigitsAloneTriggers() throws {
        try enroll(pin: "abc123456")
        let report = step("abc123456")
        XCTAssertEqual(report.status, .authError)
        XCTAssertTrue(report.isChallenge, "the PIN alone is not taken for PIN \"abc\" + code \"123456\"")
        XCTAssertEqual(mailer.sent.count, 1)
        XCTAssertEqual(try record()?.failCount, 0)
    }

    func testPINEndingInDigitsPlusCodeGrants() throws {
        try enroll(pin: "abc123456")
        let (_, code) = try trigger("abc123456")
        XCTAssertEqual(step("abc123456" + code).status, .success)
    }

    func testPINEndingInAPrependingScalarPlusCodeGrants() throws {
        // U+0600 (ARABIC NUMBER SIGN) joins the following digit into one Character: the split
        // must be made on bytes, or the PIN and the code merge.
        let pin = "abcd\u{0600}"
        try enroll(pin: pin)
        let (_, code) = try trigger(pin)
        XCTAssertEqual(step(pin + code).status, .success)
    }

    func testAllDigitPINOfCodeLength() throws {
        try enroll(pin: "654321")
        let (_, code) = try trigger("654321")
        XCTAssertEqual(step("654321" + code).status, .success)
    }

    func testWrongPINAloneIsDeniedWithoutMail() throws {
        try enroll()
        let report = step("wrong-pin")
        XCTAssertEqual(report.status, .authError)
        XCTAssertFalse(report.isChallenge)
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertEqual(try record()?.failCount, 1)
    }

    func testWrongPINPlusRightCodeIsDenied() throws {
        try enroll()
        let (_, code) = try trigger()
        let report = step("wrong-pin" + code)
        XCTAssertEqual(report.status, .authError)
        XCTAssertFalse(report.isChallenge)
        XCTAssertEqual(mailer.sent.count, 1)
        XCTAssertEqual(try record()?.failCount, 2, "two PIN candidates (before the code, the whole password), two failures")
    }

    /// One password tested as several PINs (the part before a code, before a recovery code,
    /// the whole) costs one failure for each, and the reply is the same whichever of them is
    /// the PIN: no oracle, and max_fail buys one PIN guess per failure.
    func testAPasswordTestedAsSeveralPINsCountsEachAndAnswersAlike() throws {
        let password = "Zz99abcd012345"
        var replies: [FlowResult] = []
        for pin in ["Zz99", "Zz99abcd", "Other-PIN"] {
            try store.update(user: "alice") { $0 = nil }
            try enroll(pin: pin)
            replies.append(step(password))
        }
        XCTAssertEqual(replies.map(\.status), [.authError, .authError, .authError])
        XCTAssertEqual(replies.map(\.message), ["", "", ""], "the same reply whichever split is the PIN")
        XCTAssertEqual(replies.filter(\.isChallenge).count, 0)
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertEqual(try record()?.failCount, 3, "three PIN candidates, none the PIN: three failures")
    }

    func testCodeAloneWithoutPINIsDenied() throws {
        try enroll()
        let (_, code) = try trigger()
        XCTAssertNotEqual(step(code).status, .success)
    }

    func testConcurrentOnOlderAnsweredFirstThenNewerEachOnce() throws {
        config.concurrentChallenges = true
        try enroll()
        let older = try trigger()
        clock.advance(31)
        let newer = try trigger()
        XCTAssertNotEqual(older.id, newer.id)
        XCTAssertNotEqual(older.code, newer.code)
        XCTAssertEqual(try record()?.challenges.count, 2)
        XCTAssertEqual(step(Self.pin + older.code).status, .success)
        XCTAssertEqual(step(Self.pin + newer.code).status, .success)
        XCTAssertNotEqual(step(Self.pin + older.code).status, .success)
        XCTAssertNotEqual(step(Self.pin + newer.code).status, .success)
    }

    func testConcurrentOnNewerAnsweredFirstThenOlder() throws {
        config.concurrentChallenges = true
        try enroll()
        let older = try trigger()
        clock.advance(31)
        let newer = try trigger()
        XCTAssertEqual(step(Self.pin + newer.code).status, .success)
        XCTAssertEqual(step(Self.pin + older.code).status, .success)
    }

    func testConcurrentOffNewerVoidsOlder() throws {
        config.concurrentChallenges = false
        try enroll()
        let older = try trigger()
        clock.advance(31)
        let newer = try trigger()
        XCTAssertEqual(try record()?.challenges.map(\.transactionID), [newer.id])
        XCTAssertEqual(step(Self.pin + older.code).status, .authError)
        XCTAssertEqual(answer(older.id, older.code).status, .authError)
        XCTAssertEqual(step(Self.pin + newer.code).status, .success)
    }

    func testMaxOpenChallengesDropsTheOldest() throws {
        config.concurrentChallenges = true
        config.maxOpenChallenges = 2
        try enroll()
        let first = try trigger()
        clock.advance(31)
        let second = try trigger()
        clock.advance(31)
        let third = try trigger()
        XCTAssertEqual(try record()?.challenges.map(\.transactionID), [second.id, third.id])
        XCTAssertEqual(step(Self.pin + first.code).status, .authError)
        XCTAssertEqual(step(Self.pin + second.code).status, .success)
        XCTAssertEqual(step(Self.pin + third.code).status, .success)
    }

    func testTriesExhaustedVoidsTheChallenge() throws {
        config.otpTries = 2
        try enroll()
        let (id, code) = try trigger()
        let wrong = otherCode(code)
        let first = step(Self.pin + wrong)
        XCTAssertEqual(first.status, .authError)
        XCTAssertEqual(first.message, "", "a wrong password is answered like a wrong PIN")
        let second = step(Self.pin + wrong)
        XCTAssertEqual(second.status, .authError)
        XCTAssertEqual(second.message, "")
        XCTAssertEqual(try record()?.challenges, [])
        XCTAssertEqual(step(Self.pin + code).status, .authError)
        XCTAssertEqual(answer(id, code).status, .authError)
        XCTAssertEqual(try record()?.failCount, 2)
    }

    func testCodeValidAtExpiresMinusOne() throws {
        try enroll()
        let (_, code) = try trigger()
        clock.advance(config.otpValidity - 1)
        XCTAssertEqual(step(Self.pin + code).status, .success)
    }

    func testCodeRefusedAtExpires() throws {
        try enroll()
        let (_, code) = try trigger()
        clock.advance(config.otpValidity)
        let report = step(Self.pin + code)
        XCTAssertEqual(report.status, .authError)
        XCTAssertFalse(report.isChallenge, "an expired PIN + code is not a new trigger")
        XCTAssertEqual(mailer.sent.count, 1)
    }

    func testTransactionIDRefusedAtExpires() throws {
        try enroll()
        let (id, code) = try trigger()
        clock.advance(config.otpValidity)
        XCTAssertEqual(answer(id, code).status, .authError)
    }

    func testExpiryEnforcedWithConcurrentChallenges() throws {
        config.concurrentChallenges = true
        try enroll()
        let older = try trigger()
        clock.advance(200)
        let newer = try trigger()
        clock.advance(100)  // the older one expires now, the newer one is 100 s old
        XCTAssertEqual(step(Self.pin + older.code).status, .authError)
        XCTAssertEqual(step(Self.pin + newer.code).status, .success)
    }

    func testPinNoneEmptyPasswordTriggersAndCodeAloneAnswers() throws {
        try enroll(pin: nil)
        let report = step("", pinMode: .none)
        XCTAssertEqual(report.status, .authError)
        XCTAssertTrue(report.isChallenge)
        XCTAssertTrue(report.message.hasSuffix("Log in again with the code."), report.message)
        let code = try XCTUnwrap(lastCode)
        XCTAssertEqual(step(code, pinMode: .none).status, .success)
        XCTAssertNotEqual(step(code, pinMode: .none).status, .success)
    }

    func testPinNoneWrongCodeIsDenied() throws {
        try enroll(pin: nil)
        _ = step("", pinMode: .none)
        let code = try XCTUnwrap(lastCode)
        XCTAssertEqual(step(otherCode(code), pinMode: .none).status, .authError)
        XCTAssertEqual(step("not-a-code", pinMode: .none).status, .authError)
        XCTAssertEqual(mailer.sent.count, 1)
    }

    func testAnswerTransactionWithRightIDAndCodeGrants() throws {
        try enroll()
        let (id, code) = try trigger()
        XCTAssertEqual(answer(id, code).status, .success)
        XCTAssertNotEqual(answer(id, code).status, .success, "once")
    }

    func testAnswerTransactionWithAnotherChallengesIDIsRefused() throws {
        config.concurrentChallenges = true
        try enroll()
        let a = try trigger()
        clock.advance(31)
        let b = try trigger()
        XCTAssertEqual(answer(a.id, b.code).status, .authError)
        XCTAssertEqual(answer(b.id, a.code).status, .authError)
        XCTAssertEqual(answer(a.id, a.code).status, .success)
        XCTAssertEqual(answer(b.id, b.code).status, .success)
    }

    func testAnswerTransactionWithAnotherUsersIDIsRefused() throws {
        try enroll()
        try enroll("bob", email: "bob@example.com")
        let bobs = try trigger(user: "bob")
        XCTAssertEqual(answer(bobs.id, bobs.code, user: "alice").status, .authError)
        XCTAssertEqual(answer(bobs.id, bobs.code, user: "bob").status, .success)
    }

    func testAnswerTransactionWithMalformedIDIsRefused() throws {
        try enroll()
        let (id, code) = try trigger()
        for bad in ["", "1234", String(id.dropLast()), id + "0", "abcdefghijklmnopqrst", " " + id.dropFirst(),
                    String(id.dropLast()) + "\n", "../../../../etc/passwd"] {
            let report = answer(bad, code)
            XCTAssertEqual(report.status, .authError, bad)
        }
        XCTAssertEqual(answer(id, code).status, .success, "the malformed attempts did not touch the challenge")
    }

    func testResendIntervalReusesTheOpenChallenge() throws {
        config.resendInterval = 30
        try enroll()
        let (id, code) = try trigger()
        clock.advance(29)
        let again = step(Self.pin)
        XCTAssertEqual(again.status, .authError)
        XCTAssertEqual(again.challenge?.transactionID, id)
        XCTAssertEqual(mailer.sent.count, 1, "no second mail")
        XCTAssertEqual(again.message,
                       "A code was already sent to a***@e******.com less than 30 seconds ago. Transaction id: \(id). "
                           + "Log in again with your PIN followed by that code.")
        XCTAssertEqual(step(Self.pin + code).status, .success)
    }

    func testResendIntervalZeroAlwaysSends() throws {
        config.resendInterval = 0
        try enroll()
        _ = try trigger()
        _ = try trigger()
        XCTAssertEqual(mailer.sent.count, 2)
    }

    func testRateLimit() throws {
        config.maxMailsPerHour = 2
        config.resendInterval = 0
        try enroll()
        _ = try trigger()
        _ = try trigger()
        let report = step(Self.pin)
        XCTAssertEqual(report.status, .unavailable)
        XCTAssertEqual(report.message, Messages.rateLimited)
        XCTAssertEqual(mailer.sent.count, 2)
    }

    func testMailFailureIsUnavailableAndDropsTheChallenge() throws {
        try enroll()
        mailer.failure = MailError("452 mailbox full")
        let report = step(Self.pin)
        XCTAssertEqual(report.status, .unavailable)
        XCTAssertEqual(report.message, Messages.mailFailed)
        XCTAssertEqual(try record()?.challenges, [])
        XCTAssertTrue(logger.text.contains("452 mailbox full"))
        // The next trigger is not "re-used": it sends.
        mailer.failure = nil
        _ = try trigger()
    }

    func testChallengeCannotBeAnsweredBeforeItsMailHasGoneOut() throws {
        try enroll()
        var answeredEarly: FlowResult? = nil
        mailer.whileSending = { [unowned self] mail in
            let id = header("X-EmailOTP-Transaction-Id", in: mail) ?? ""
            answeredEarly = self.answer(id, code(in: mail) ?? "")
        }
        let (id, mailed) = try trigger()
        XCTAssertEqual(answeredEarly?.status, .authError, "a code must not work while its mail is still being sent")
        mailer.whileSending = nil
        XCTAssertEqual(try record()?.challenges.first?.triesLeft, config.otpTries, "the sent mail arms the challenge")
        XCTAssertEqual(answer(id, mailed).status, .success)
    }

    func testChallengeStaysUnanswerableWhenMailFailsAndItCannotBeRemoved() throws {
        // The mail fails and the store refuses the write that would drop the challenge: the
        // challenge is still never answerable (it was written disarmed).
        try enroll()
        var leaked: (id: String, code: String)? = nil
        mailer.whileSending = { [unowned self] mail in
            leaked = (header("X-EmailOTP-Transaction-Id", in: mail) ?? "", code(in: mail) ?? "")
            // The store refuses the clean-up write: a users/ directory open to others is unsafe
            // (a mode change works for root too, where a read-only mode would not).
            chmod(self.storeDirectory + "/users", 0o755)
        }
        mailer.failure = MailError("421 connection dropped after DATA")
        XCTAssertEqual(step(Self.pin).status, .unavailable)
        XCTAssertEqual(try? record()?.challenges.count, nil, "the store refused the clean-up")
        chmod(storeDirectory + "/users", 0o700)
        XCTAssertEqual(try record()?.challenges.count, 1, "the challenge could not be dropped")
        mailer.whileSending = nil
        mailer.failure = nil
        let stolen = try XCTUnwrap(leaked)
        XCTAssertNotEqual(answer(stolen.id, stolen.code).status, .success)
        XCTAssertNotEqual(step(Self.pin + stolen.code).status, .success)
    }

    func testLockedTokenAnswersExactlyLikeAWrongPIN() throws {
        config.maxFail = 2
        try enroll()
        let wrong = step("wrong-1")
        _ = step("wrong-2")
        let report = step(Self.pin)
        XCTAssertEqual(report, wrong, "a locked token must not confirm that the name is enrolled")
        XCTAssertEqual(report.message, "")
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertTrue(logger.text.contains("refused: token locked"), "the log keeps the real reason")
    }

    func testLockedTokenRefusesARightCode() throws {
        config.maxFail = 2
        try enroll()
        let (id, code) = try trigger()
        _ = step("wrong-1")
        _ = step("wrong-2")
        XCTAssertEqual(step(Self.pin + code).status, .authError)
        XCTAssertEqual(answer(id, code).status, .authError)
    }

    func testDisabledTokenAnswersExactlyLikeAWrongPIN() throws {
        try enroll()
        let wrong = step("wrong-1")
        try store.update(user: "alice") { $0?.enabled = false }
        let before = PINHash.verifications
        let report = step(Self.pin)
        XCTAssertEqual(PINHash.verifications - before, 1, "a disabled token costs a hash like any PIN check")
        XCTAssertEqual(report, wrong)
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertTrue(logger.text.contains("refused: token disabled"))
    }

    func testLockingVoidsTheOpenChallenges() throws {
        config.maxFail = 2
        try enroll()
        let (id, code) = try trigger()
        _ = step("wrong-1")
        _ = step("wrong-2")
        XCTAssertEqual(try record()?.challenges, [], "the lock voids the challenge")
        // `emailotp reset`: a code mailed before the lock must not work after it.
        try store.update(user: "alice") { $0?.registerSuccess() }
        XCTAssertEqual(answer(id, code).status, .authError)
        XCTAssertEqual(step(Self.pin + code).status, .authError)
    }

    func testUnknownUser() throws {
        // Without nullok a name without a token answers exactly like a wrong PIN.
        XCTAssertEqual(step(Self.pin, user: "mallory").status, .authError)
        XCTAssertEqual(step(Self.pin + "123456", user: "mallory").status, .authError)
        XCTAssertEqual(HelperProtocol.status(of: step(Self.pin, user: "mallory").status), 1)
        XCTAssertEqual(step(Self.pin, user: "mallory", nullok: true).status, .ignore)
        XCTAssertEqual(step("", user: "mallory", nullok: true, pinMode: .none).status, .ignore)
        XCTAssertEqual(mailer.sent.count, 0)
    }

    func testCorruptRecordNeverGrants() throws {
        try enroll()
        let (_, code) = try trigger()
        try writeFile("\(storeDirectory)/users/alice", "emailotp-token 1\nuser alice\n")
        XCTAssertEqual(step(Self.pin + code).status, .unavailable)
        XCTAssertEqual(step(Self.pin).status, .unavailable)
        XCTAssertEqual(mailer.sent.count, 1)
    }
}
