import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPFlows

/// One-password clients beyond auth_cache (pam_emailotp(8)): the challenge-mode mail says how to finish, and the first step
/// is reported as such, so that the module asks libpam for no fail delay after it.
final class OnePasswordClientTests: FlowTestCase {
    final class WatchingConversation: Conversation, ChallengeAware {
        var answers: [String]
        var opened = 0
        init(_ answers: [String]) { self.answers = answers }
        func prompt(_ text: String, echo: Bool) -> String? { answers.isEmpty ? nil : answers.removeFirst() }
        func info(_ text: String) {}
        func error(_ text: String) {}
        func challengeOpened() { opened += 1 }
    }

    func challenge(_ password: String, pinMode: PINMode = .token) -> (AuthResult, WatchingConversation) {
        let conversation = WatchingConversation([password])
        let result = ChallengeFlow(authenticator(pinMode: pinMode)).run(user: "alice", conversation: conversation, nullok: false,
                                                               stackPIN: nil, firstPass: .no).status
        return (result, conversation)
    }

    func testTheChallengeMailSaysHowToFinishTheLogin() throws {
        try enroll()
        _ = challenge(Self.pin)
        let body = try XCTUnwrap(part("text/plain", in: try XCTUnwrap(mailer.sent.last)))
        XCTAssertTrue(body.contains("To finish logging in, log in again with your PIN followed by this code."), body)
    }

    func testWithPinNoneTheMailSaysTheCodeAlone() throws {
        try enroll(pin: nil)
        _ = challenge("", pinMode: .none)
        let body = try XCTUnwrap(part("text/plain", in: try XCTUnwrap(mailer.sent.last)))
        XCTAssertTrue(body.contains("To finish logging in, log in again with this code."), body)
    }

    func testTheInteractiveMailHasNoSuchLine() throws {
        try enroll()
        let conversation = ScriptedConversation([answer(Self.pin), answer(nil)])
        _ = InteractiveFlow(authenticator()).run(user: "alice", conversation: conversation, nullok: false, stackPIN: nil, firstPass: .no).status
        let body = try XCTUnwrap(part("text/plain", in: try XCTUnwrap(mailer.sent.last)))
        XCTAssertFalse(body.contains("To finish logging in"), body)
    }

    func testOnlyTheTriggerIsReportedAsAnOpenedChallenge() throws {
        try enroll()
        let (first, watching) = challenge(Self.pin)
        XCTAssertEqual(first, .authError)
        XCTAssertEqual(watching.opened, 1)
        let (wrong, watchingWrong) = challenge("not-" + Self.pin)
        XCTAssertEqual(wrong, .authError)
        XCTAssertEqual(watchingWrong.opened, 0, "a wrong PIN is a real failure")
        let (code, watchingCode) = challenge(Self.pin + otherCode(try XCTUnwrap(lastCode)))
        XCTAssertEqual(code, .authError)
        XCTAssertEqual(watchingCode.opened, 0, "a wrong code is a real failure")
    }
}
