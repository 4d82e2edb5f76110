import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPFlows

/// One-password clients (pam_emailotp(8)): clients such as Dovecot, OpenVPN and python-pam answer every prompt with the one
/// password they have. In interactive mode the code prompt then gets the PIN again: the module
/// ends the attempt without counting a failure or mailing again, and logs the fix.
final class EchoDetectionTests: FlowTestCase {
    func login(_ answers: [(String) -> String?], stackPIN: String? = nil, firstPass: FirstPass = .no,
               authtok: String? = nil, pinMode: PINMode = .token) -> (AuthResult, ScriptedConversation) {
        let conversation = ScriptedConversation(answers)
        let result = InteractiveFlow(authenticator(pinMode: pinMode)).run(user: "alice", conversation: conversation, nullok: false,
                                                                 stackPIN: stackPIN, firstPass: firstPass, authtok: authtok).status
        return (result, conversation)
    }

    func testTheCodePromptAnsweredWithThePINEndsTheLoginWithoutAFailure() throws {
        try enroll()
        let (result, conversation) = login([answer(Self.pin), answer(Self.pin), answer(Self.pin), answer(Self.pin)])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.prompts, ["PIN: ", "Email code: "], "no second code prompt")
        XCTAssertEqual(try record()?.failCount, 0)
        XCTAssertEqual(mailer.sent.count, 1)
        XCTAssertEqual(conversation.errors, [Messages.passwordAgain])
        XCTAssertTrue(logger.text.contains("needs mode=challenge"), logger.text)
        XCTAssertFalse(logger.text.contains(Self.pin))
    }

    func testRepeatedEchoLoginsNeverLockTheToken() throws {
        config.maxFail = 3
        config.resendInterval = 30
        try enroll()
        for _ in 0..<5 {
            XCTAssertEqual(login([answer(Self.pin), answer(Self.pin)]).0, .authError)
            clock.advance(1)
        }
        XCTAssertEqual(try record()?.failCount, 0)
        XCTAssertEqual(try record()?.isLocked, false)
        XCTAssertEqual(mailer.sent.count, 1, "the open challenge is re-used, no further mail")
    }

    func testAnAnswerEqualToPAMAuthtokIsAnEchoToo() throws {
        try enroll(pin: nil)
        let (result, _) = login([answer("unix-password")], authtok: "unix-password", pinMode: .none)
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(try record()?.failCount, 0)
        XCTAssertEqual(mailer.sent.count, 1)
    }

    func testTheStackedPINEchoedWithUseFirstPass() throws {
        try enroll()
        let (result, conversation) = login([answer(Self.pin)], stackPIN: Self.pin, firstPass: .use, authtok: Self.pin)
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.prompts, ["Email code: "])
        XCTAssertEqual(try record()?.failCount, 0)
    }

    func testARealWrongCodeStillCounts() throws {
        try enroll()
        let (result, _) = login([answer(Self.pin), wrongCode(), answer(nil)])
        XCTAssertEqual(result, .conversationError)
        XCTAssertEqual(try record()?.failCount, 1)
    }

    func testTheRightCodeStillGrants() throws {
        try enroll()
        XCTAssertEqual(login([answer(Self.pin), mailedCode()]).0, .success)
    }
}
