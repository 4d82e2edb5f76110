import XCTest
@testable import EmailOTPFlows
@testable import EmailOTPConfig
@testable import EmailOTPToken

/// Clients that cannot prompt or must stay quiet (Flows/Prompting.swift): a blank answer is no
/// answer; in quiet mode where the code went is in the code prompt, never a separate message.
final class ConversationTests: FlowTestCase {
    var quiet = false

    func signIn(_ answers: [(String) -> String?], pinMode: PINMode = .token) -> (AuthResult, ScriptedConversation) {
        let conversation = ScriptedConversation(answers)
        var authenticator = authenticator(pinMode: pinMode)
        authenticator = Authenticator(config: authenticator.config, pinMode: pinMode, store: store, clock: clock,
                                      random: random, mailer: mailer, logger: logger,
                                      context: RequestContext(service: "sshd", rhost: "192.0.2.7", host: "h", quiet: quiet))
        let result = InteractiveFlow(authenticator).run(user: "alice", conversation: conversation, nullok: false,
                                               stackPIN: nil, firstPass: .no).status
        return (result, conversation)
    }

    func testABlankCodeAnswerEndsTheAttemptWithoutCountingOrMailingAgain() throws {
        try enroll(pin: nil)
        for round in 1...3 {
            let (result, conversation) = signIn([answer("")], pinMode: .none)
            XCTAssertEqual(result, .conversationError)
            XCTAssertEqual(conversation.prompts.count, 1, "round \(round): one prompt, no retry")
            XCTAssertEqual(conversation.errors, [])
            XCTAssertEqual(try record()?.failCount, 0)
            XCTAssertEqual(try record()?.isLocked, false)
        }
        XCTAssertEqual(mailer.sent.count, 1, "the next rounds re-use the open challenge")
        XCTAssertEqual(try record()?.challenges.first?.triesLeft, config.otpTries, "no try spent")
        XCTAssertTrue(logger.text.contains("no answer at the code prompt: the client could not prompt (no terminal? BatchMode=yes?)"),
                      logger.text)
        XCTAssertFalse(logger.text.contains("wrong code"), logger.text)
    }

    func testBlanksAreNoAnswerEither() throws {
        try enroll(pin: nil)
        XCTAssertEqual(signIn([answer(" \t ")], pinMode: .none).0, .conversationError)
        XCTAssertEqual(try record()?.failCount, 0)
    }

    func testABlankPINAnswerSendsNoMailAndCountsNothing() throws {
        try enroll()
        let (result, conversation) = signIn([answer("")])
        XCTAssertEqual(result, .conversationError)
        XCTAssertEqual(conversation.prompts, ["PIN: "])
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertEqual(try record()?.failCount, 0)
        XCTAssertTrue(logger.text.contains("no answer at the PIN prompt"), logger.text)
    }

    func testQuietPutsWhereTheCodeWentIntoTheCodePromptAndShowsNoMessage() throws {
        quiet = true
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), answer("000000"), mailedCode()])
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["PIN: ", "Code sent to a***@e******.com (valid 5 min): ",
                                              "Code sent to a***@e******.com (valid 5 min): "])
        XCTAssertEqual(conversation.infos, [], "no PAM_TEXT_INFO: sudo would print it on the command's stdout")
        XCTAssertEqual(conversation.errors, ["Wrong code. 2 tries left."], "errors stay errors")
    }

    func testQuietWithAnOpenChallengeSaysHowLongItIsStillGood() throws {
        quiet = true
        try enroll()
        XCTAssertEqual(signIn([answer(Self.pin), answer("")]).0, .conversationError)
        clock.advance(20)                       // within resend_interval (30 s): the same code
        let (_, conversation) = signIn([answer(Self.pin), answer("")])
        XCTAssertEqual(conversation.prompts.last, "Code sent to a***@e******.com (valid 4 min 40 s): ")
        XCTAssertEqual(mailer.sent.count, 1)
    }

    func testOTPPromptWithTheAddressReplacesTheMessageInEveryMode() throws {
        config.otpPrompt = "Code from the mail to {address}, {validity}: "
        config.maskAddress = false
        try enroll()
        let (result, conversation) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts.last, "Code from the mail to alice@example.com, 5 min: ")
        XCTAssertEqual(conversation.infos, [])
    }

    func testWithATerminalTheMessageAndThePlainPromptStay() throws {
        try enroll()
        let (_, conversation) = signIn([answer(Self.pin), mailedCode()])
        XCTAssertEqual(conversation.prompts, ["PIN: ", "Email code: "])
        XCTAssertEqual(conversation.infos, ["A code was sent to a***@e******.com. It is valid for 5 minutes."])
    }

    func testALockedTokenIsSaidPlainlyOnlyAfterTheStacksFirstFactor() throws {
        try enroll(pin: nil)
        try store.update(user: "alice") { $0?.lockedAt = self.clock.now(); $0?.failCount = 10 }
        let (result, conversation) = signIn([], pinMode: .none)
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.errors, [Messages.locked])
        XCTAssertEqual(mailer.sent.count, 0)

        try enroll(pin: Self.pin)
        try store.update(user: "alice") { $0?.lockedAt = self.clock.now(); $0?.failCount = 10 }
        let (tokenResult, tokenConversation) = signIn([answer(Self.pin)])
        XCTAssertEqual(tokenResult, .authError)
        XCTAssertEqual(tokenConversation.errors, [], "the PIN is the first factor: a locked token answers like a wrong PIN")
    }

    func testChallengeModeBlankPasswordWithAPINIsNoAnswer() throws {
        try enroll()
        let conversation = ScriptedConversation([answer("")])
        let result = ChallengeFlow(authenticator()).run(user: "alice", conversation: conversation, nullok: false, stackPIN: nil, firstPass: .no).status
        XCTAssertEqual(result, .conversationError)
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertEqual(try record()?.failCount, 0)
    }
}
