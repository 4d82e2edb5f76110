import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPFlows
@testable import EmailOTPMail

/// `mode=interactive`: PIN prompt, mail, code prompt(s), one transaction.
final class InteractiveFlowTests: FlowTestCase {
    func signIn(_ answers: [(String) -> String?], nullok: Bool = false, pinMode: PINMode = .token,
                stackPIN: String? = nil, firstPass: FirstPass = .no) -> (AuthResult, ScriptedConversation) {
        signIn("alice", answers, nullok: nullok, pinMode: pinMode, stackPIN: stackPIN, firstPass: firstPass)
    }

    func signIn(_ user: String, _ answers: [(String) -> String?], nullok: Bool = false,
               pinMode: PINMode = .token, stackPIN: String? = nil, firstPass: FirstPass = .no)
        -> (AuthResult, ScriptedConversation) {
        let conversation = ScriptedConversation(answers)
        let result = InteractiveFlow(authenticator(pinMode: pinMode)).run(user: user, conversation: conversation, nullok: nullok,
                                                                 stackPIN: stackPIN, firstPass: firstPass).status
        return (result, conversation)
    }

    func testRightPINAndRightCodeSucceeds() throws {
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["PIN: ", "Email code: "])
        XCTAssertEqual(conversation.echoes, [false, false])
        XCTAssertEqual(mailer.sent.count, 1)
        XCTAssertEqual(mailer.sent.first?.to, "alice@example.com")
        XCTAssertEqual(conversation.infos, ["A code was sent to a***@e******.com. It is valid for 5 minutes."])
        let record = try XCTUnwrap(try record())
        XCTAssertEqual(record.challenges, [], "a granted challenge is deleted")
        XCTAssertEqual(record.failCount, 0)
    }

    func testSuccessResetsTheFailCount() throws {
        try enroll()
        try store.update(user: "alice") { $0?.failCount = 4 }
        XCTAssertEqual(signIn([answer(Self.pin), mailedCode()]).0, .success)
        XCTAssertEqual(try record()?.failCount, 0)
    }

    func testCodeWithSurroundingBlanksIsAccepted() throws {
        try enroll()
        let (result, _) = signIn([answer(Self.pin), { [unowned self] _ in " \(self.lastCode ?? "") " }])
        XCTAssertEqual(result, .success)
    }

    func testWrongPINFailsWithoutMailAndCountsAFailure() throws {
        try enroll()
        let (result, conversation) = signIn([answer("9999"), mailedCode()])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertEqual(conversation.prompts, ["PIN: "], "no code prompt after a wrong PIN")
        XCTAssertEqual(try record()?.failCount, 1)
        XCTAssertEqual(try record()?.challenges, [])
        XCTAssertTrue(logger.text.contains("wrong PIN"))
        XCTAssertFalse(logger.text.contains("9999"), "the log never holds a PIN")
    }

    func testWrongCodesThenRightCodeWithinOTPTriesSucceeds() throws {
        config.otpTries = 3
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), wrongCode(), wrongCode(), mailedCode()])
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["PIN: ", "Email code: ", "Email code: ", "Email code: "])
        XCTAssertEqual(conversation.errors, ["Wrong code. 2 tries left.", "Wrong code. 1 try left."])
        XCTAssertTrue(logger.text.contains("), 1 try left"), logger.text)
        XCTAssertFalse(logger.text.contains("1 tries"), logger.text)
        XCTAssertEqual(mailer.sent.count, 1, "retries use the same mail")
        XCTAssertEqual(try record()?.failCount, 0)
    }

    func testAllCodesWrongFailsAndVoidsTheChallenge() throws {
        config.otpTries = 3
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), wrongCode(), wrongCode(), wrongCode(), mailedCode()])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.prompts.filter { $0 == "Email code: " }.count, 3, "no more than otp_tries prompts")
        XCTAssertEqual(conversation.errors.last, "Wrong code.")
        let record = try XCTUnwrap(try record())
        XCTAssertEqual(record.failCount, 3)
        XCTAssertEqual(record.challenges, [])
        let code = try XCTUnwrap(lastCode)
        XCTAssertNotEqual(try authenticator().verify(user: "alice", code: code, transactionID: nil, pin: nil), .granted)
    }

    func testOneTryOnly() throws {
        config.otpTries = 1
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), wrongCode(), mailedCode()])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.prompts, ["PIN: ", "Email code: "])
    }

    func testMalformedCodeIsWrong() throws {
        try enroll()
        let (result, _) = signIn([answer(Self.pin), answer("12ab56"), answer("1"), answer("1234567"), mailedCode()])
        XCTAssertEqual(result, .authError)
    }

    func testCodeValidAtExpiresMinusOne() throws {
        config.otpValidity = 300
        try enroll()
        let (result, _) = signIn([answer(Self.pin), mailedCode(after: 299)])
        XCTAssertEqual(result, .success)
    }

    func testCodeRefusedAtExpires() throws {
        config.otpValidity = 300
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), mailedCode(after: 300)])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.errors, ["The code has expired."])
    }

    func testCodeRefusedLongAfterExpiry() throws {
        try enroll()
        let (result, _) = signIn([answer(Self.pin), mailedCode(after: 100_000)])
        XCTAssertEqual(result, .authError)
    }

    func testCodeWorksOnlyOnce() throws {
        try enroll()
        XCTAssertEqual(signIn([answer(Self.pin), mailedCode()]).0, .success)
        let used = try XCTUnwrap(lastCode)
        clock.advance(5)
        // A second login gets a new mail; the old code does not open it.
        let (result, _) = signIn([answer(Self.pin), answer(used), answer(used), answer(used)])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(mailer.sent.count, 2)
        XCTAssertNotEqual(lastCode, used)
        // Nor does it match anything through the verifier directly.
        XCTAssertNotEqual(try authenticator().verify(user: "alice", code: used, transactionID: nil, pin: nil), .granted)
    }

    func testLocksAfterMaxFail() throws {
        config.maxFail = 3
        try enroll()
        for _ in 0..<3 { XCTAssertEqual(signIn([answer("0000")]).0, .authError) }
        let record = try XCTUnwrap(try record())
        XCTAssertEqual(record.failCount, 3)
        XCTAssertTrue(record.isLocked)
        XCTAssertEqual(record.lockedAt, clock.time)
    }

    func testLockedTokenIsRefusedWithoutMailEvenWithTheRightPIN() throws {
        config.maxFail = 3
        try enroll()
        for _ in 0..<3 { _ = signIn([answer("0000")]) }
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertEqual(conversation.errors, [], "answered exactly like a wrong PIN")
        XCTAssertEqual(conversation.prompts, ["PIN: "])
        XCTAssertTrue(logger.text.contains("refused: token locked"))
    }

    func testWrongCodesCountTowardTheLock() throws {
        config.maxFail = 2
        config.otpTries = 3
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), wrongCode(), wrongCode(), mailedCode()])
        XCTAssertEqual(result, .authError, "the lock stops the login even with the right code")
        XCTAssertTrue(try record()?.isLocked ?? false)
        XCTAssertEqual(conversation.prompts.count, 3)
    }

    func testUnlocksAfterUnlockTime() throws {
        config.maxFail = 3
        config.unlockTime = 900
        try enroll()
        for _ in 0..<3 { _ = signIn([answer("0000")]) }
        clock.advance(899)
        XCTAssertEqual(signIn([answer(Self.pin), mailedCode()]).0, .authError, "still locked one second before")
        XCTAssertEqual(mailer.sent.count, 0)
        clock.advance(1)
        XCTAssertEqual(signIn([answer(Self.pin), mailedCode()]).0, .success)
        XCTAssertEqual(try record()?.failCount, 0)
        XCTAssertFalse(try record()?.isLocked ?? true)
    }

    func testUnlockTimeZeroStaysLocked() throws {
        config.maxFail = 3
        config.unlockTime = 0
        try enroll()
        for _ in 0..<3 { _ = signIn([answer("0000")]) }
        clock.advance(10 * 365 * 86400)
        XCTAssertEqual(signIn([answer(Self.pin), mailedCode()]).0, .authError)
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertTrue(try record()?.isLocked ?? false)
    }

    func testDisabledTokenIsRefusedWithoutMail() throws {
        try enroll(enabled: false)
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertEqual(conversation.errors, [], "answered exactly like a wrong PIN")
        XCTAssertTrue(logger.text.contains("refused: token disabled"))
    }

    func testNullokIgnoresAUserWithoutToken() throws {
        let (result, conversation) = signIn("nobody", [answer(Self.pin), mailedCode()], nullok: true)
        XCTAssertEqual(result, .ignore)
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertEqual(conversation.prompts, [])
    }

    func testNullokNeverGrantsAUserWithoutToken() throws {
        for pinMode in [PINMode.token, .none] {
            for stack in [nil, "", Self.pin] {
                let (result, _) = signIn("nobody", [answer(Self.pin), answer("123456")], nullok: true, pinMode: pinMode,
                                        stackPIN: stack, firstPass: stack == nil ? .no : .use)
                XCTAssertNotEqual(result, .success)
                XCTAssertEqual(result, .ignore)
            }
        }
    }

    func testNullokStillChecksAnEnrolledUser() throws {
        try enroll()
        XCTAssertEqual(signIn([answer("0000")], nullok: true).0, .authError)
        XCTAssertEqual(signIn([answer(Self.pin), wrongCode(), wrongCode(), wrongCode()], nullok: true).0, .authError)
        XCTAssertEqual(signIn([answer(Self.pin), mailedCode()], nullok: true).0, .success)
    }

    func testUnknownUserIsPromptedForThePINThenRefusedLikeAWrongPIN() throws {
        let (result, conversation) = signIn("mallory", [answer("whatever"), mailedCode()])
        XCTAssertEqual(result, .authError, "no token answers PAM_AUTH_ERR, like a wrong PIN")
        XCTAssertTrue(logger.text.contains("no token"), "the log keeps the truth")
        XCTAssertEqual(conversation.prompts, ["PIN: "], "the PIN prompt does not reveal who is enrolled")
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertNil(try record("mallory"))
    }

    func testUnknownUserSeesTheSamePromptsAsAWrongPIN() throws {
        try enroll()
        let (unknownResult, unknown) = signIn("mallory", [answer("0000")])
        let (wrongResult, wrong) = signIn("alice", [answer("0000")])
        XCTAssertEqual(unknownResult, wrongResult)
        XCTAssertEqual(unknown.prompts, wrong.prompts)
        XCTAssertEqual(unknown.infos, wrong.infos)
        XCTAssertEqual(unknown.errors, wrong.errors)
    }

    func testUnenrollableUserNameIsUnknown() throws {
        for name in ["", "a\nb", String(repeating: "u", count: 300)] {
            let (result, _) = signIn(name, [answer(Self.pin), mailedCode()])
            XCTAssertEqual(result, .userUnknown)
        }
        XCTAssertEqual(mailer.sent.count, 0)
    }

    func testPinNoneAsksNoPIN() throws {
        try enroll(pin: nil)
        let (result, conversation) = signIn([mailedCode()], pinMode: .none)
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["Email code: "])
    }

    func testPinNoneWithATokenThatHasAPIN() throws {
        try enroll()
        let (result, conversation) = signIn([mailedCode()], pinMode: .none)
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["Email code: "])
    }

    func testTokenWithoutPINRefusedInPinTokenMode() throws {
        try enroll(pin: nil)
        let (result, _) = signIn([answer("any-pin"), mailedCode()])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(mailer.sent.count, 0)
    }

    func testPinNoneWrongCodeFails() throws {
        try enroll(pin: nil)
        XCTAssertEqual(signIn([wrongCode(), wrongCode(), wrongCode()], pinMode: .none).0, .authError)
    }

    func testUseFirstPassTakesThePINFromTheStack() throws {
        try enroll()
        let (result, conversation) = signIn([mailedCode()], stackPIN: Self.pin, firstPass: .use)
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["Email code: "])
    }

    func testUseFirstPassWithWrongStackPINFailsWithoutPrompt() throws {
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()], stackPIN: "0000", firstPass: .use)
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.prompts, [])
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertEqual(try record()?.failCount, 1)
    }

    func testUseFirstPassWithoutStackPINFails() throws {
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()], stackPIN: nil, firstPass: .use)
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.prompts, [])
        XCTAssertEqual(mailer.sent.count, 0)
    }

    func testTryFirstPassUsesARightStackPIN() throws {
        try enroll()
        let (result, conversation) = signIn([mailedCode()], stackPIN: Self.pin, firstPass: .try)
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["Email code: "])
    }

    func testTryFirstPassPromptsWhenTheStackPINIsWrong() throws {
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()], stackPIN: "unix-password", firstPass: .try)
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["PIN: ", "Email code: "])
    }

    func testTryFirstPassPromptsWhenThereIsNoStackPIN() throws {
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()], stackPIN: nil, firstPass: .try)
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["PIN: ", "Email code: "])
    }

    func testMailFailureIsUnavailableAndDropsTheChallenge() throws {
        try enroll()
        mailer.failure = MailError("connection refused")
        let (result, conversation) = signIn([answer(Self.pin), answer("123456")])
        XCTAssertEqual(result, .unavailable)
        XCTAssertEqual(conversation.errors, [Messages.mailFailed])
        XCTAssertEqual(conversation.prompts, ["PIN: "], "no code prompt when no mail went out")
        let record = try XCTUnwrap(try record())
        XCTAssertEqual(record.challenges, [], "the challenge is dropped")
        XCTAssertEqual(record.mails, [], "a failed mail does not count toward the hourly limit")
        XCTAssertTrue(logger.text.contains("connection refused"), "the log says why")
    }

    func testRateLimitMaxMailsPerHour() throws {
        config.maxMailsPerHour = 2
        try enroll()
        XCTAssertEqual(signIn([answer(Self.pin), mailedCode()]).0, .success)
        clock.advance(60)
        XCTAssertEqual(signIn([answer(Self.pin), mailedCode()]).0, .success)
        clock.advance(60)
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .unavailable)
        XCTAssertEqual(conversation.errors, [Messages.rateLimited])
        XCTAssertEqual(mailer.sent.count, 2)
        // An hour after the first mail, one more is allowed.
        clock.advance(3600 - 120)
        XCTAssertEqual(signIn([answer(Self.pin), mailedCode()]).0, .success)
        XCTAssertEqual(mailer.sent.count, 3)
    }

    func testResendIntervalReusesTheOpenChallenge() throws {
        config.resendInterval = 30
        try enroll()
        // The first login mails a code, then the user gives up (no answer).
        XCTAssertEqual(signIn([answer(Self.pin), answer(nil)]).0, .conversationError)
        XCTAssertEqual(mailer.sent.count, 1)
        clock.advance(29)
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .success)
        XCTAssertEqual(mailer.sent.count, 1, "no second mail within resend_interval")
        XCTAssertEqual(conversation.infos,
                       ["A code was already sent to a***@e******.com less than 30 seconds ago. Enter that code."])
    }

    func testAChallengeNeverArmedIsReplacedNotReused() throws {
        config.resendInterval = 30
        try enroll()
        // A login that died between writing its challenge and mailing it (kill -9, a client
        // that went away): the challenge is there with no tries, and no mail went out.
        _ = signIn([answer(Self.pin), answer(nil)])
        try store.update(user: "alice") { record in
            for index in record!.challenges.indices { record!.challenges[index].triesLeft = 0 }
        }
        mailer.sent.removeAll()
        clock.advance(5)
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .success, "the next login mails a new code and grants it")
        XCTAssertEqual(mailer.sent.count, 1, "a challenge never armed is replaced, with a new mail")
        XCTAssertEqual(conversation.infos, ["A code was sent to a***@e******.com. It is valid for 5 minutes."])
    }

    func testTwoLoginsAtOnceBothEndWithAUsableCodeOrAClearRefusal() throws {
        config.resendInterval = 30
        try enroll()
        // Login A has written its challenge and is still sending the mail when login B starts.
        var secondLogin: (AuthResult, ScriptedConversation)? = nil
        mailer.whileSending = { [unowned self] _ in
            guard secondLogin == nil else { return }
            self.mailer.whileSending = nil
            secondLogin = self.signIn([self.answer(Self.pin), self.mailedCode()])
        }
        let first = signIn([answer(Self.pin), mailedCode()])
        let second = try XCTUnwrap(secondLogin)
        XCTAssertEqual(second.0, .success, "the login started second got a mail and a usable code")
        XCTAssertEqual(mailer.sent.count, 2)
        XCTAssertEqual(first.0, .authError, "the first login's challenge was replaced")
        XCTAssertEqual(first.1.errors, [Messages.noChallenge], "and it is told so plainly")
        XCTAssertEqual(try record()?.failCount, 0, "neither login counted a failure")
    }

    func testAfterResendIntervalANewMailIsSent() throws {
        config.resendInterval = 30
        try enroll()
        _ = signIn([answer(Self.pin), answer(nil)])
        let first = try XCTUnwrap(lastCode)
        clock.advance(30)
        XCTAssertEqual(signIn([answer(Self.pin), mailedCode()]).0, .success)
        XCTAssertEqual(mailer.sent.count, 2)
        XCTAssertNotEqual(lastCode, first)
    }

    func testResendIntervalDoesNotSkipThePIN() throws {
        try enroll()
        _ = signIn([answer(Self.pin), answer(nil)])
        let (result, conversation) = signIn([answer("0000"), mailedCode()])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.prompts, ["PIN: "])
    }

    func testConversationFailureAtThePINPrompt() throws {
        try enroll()
        XCTAssertEqual(signIn([answer(nil)]).0, .conversationError)
        XCTAssertEqual(mailer.sent.count, 0)
    }

    func testCorruptRecordFailsClosed() throws {
        try enroll()
        try writeFile("\(storeDirectory)/users/alice", "emailotp-token 1\nuser alice\ngarbage\n")
        let (result, _) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .unavailable)
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertTrue(logger.text.contains("corrupt"))
    }

    func testMaskAddressOffShowsTheAddress() throws {
        config.maskAddress = false
        try enroll()
        let (_, conversation) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(conversation.infos, ["A code was sent to alice@example.com. It is valid for 5 minutes."])
    }

    func testCustomPrompts() throws {
        config.pinPrompt = "Token PIN: "
        config.otpPrompt = "Code: "
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["Token PIN: ", "Code: "])
    }

    func testLongerCodes() throws {
        config.otpLength = 10
        try enroll()
        let (result, _) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .success)
        XCTAssertEqual(lastCode?.count, 10)
    }

    func testTheLogNeverHoldsTheCode() throws {
        try enroll()
        _ = signIn([answer(Self.pin), wrongCode(), mailedCode()])
        let code = try XCTUnwrap(lastCode)
        XCTAssertFalse(logger.text.contains(code))
        XCTAssertFalse(logger.text.contains(Self.pin))
        XCTAssertTrue(logger.text.contains("granted"))
    }
}
