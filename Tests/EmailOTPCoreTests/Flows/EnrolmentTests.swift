import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPMail
@testable import EmailOTPToken

/// Enrolment at the first login, over the fakes: a pending enrolment is activated by a login
/// that answers the code mailed to the record's address, with the PIN chosen in that login.
final class EnrolmentTests: FlowTestCase {
    static let newPIN = "new-pin-1"

    func makePending(_ user: String = "alice", email: String = "alice@example.com") throws {
        try store.update(user: user) { $0 = TokenRecord.pending(user: user, email: email) }
    }

    func interactive(_ answers: [(String) -> String?], pinMode: PINMode = .token, authtok: String? = nil)
        -> (AuthResult, ScriptedConversation) {
        let conversation = ScriptedConversation(answers)
        let result = InteractiveFlow(authenticator(pinMode: pinMode)).run(user: "alice", conversation: conversation, nullok: false,
                                                                 stackPIN: nil, firstPass: .no, authtok: authtok).status
        return (result, conversation)
    }

    func challenge(_ password: String, pinMode: PINMode = .token) -> (AuthResult, ScriptedConversation) {
        let conversation = ScriptedConversation([answer(password)])
        let result = ChallengeFlow(authenticator(pinMode: pinMode)).run(user: "alice", conversation: conversation, nullok: false,
                                                               stackPIN: nil, firstPass: .no).status
        return (result, conversation)
    }

    // MARK: interactive

    func testInteractiveEnrolmentMailsTheRecordAddressAsksAPINTwiceAndActivates() throws {
        config.notify = []
        try makePending()
        let (result, conversation) = interactive([answer(Self.newPIN), answer(Self.newPIN), mailedCode()])
        XCTAssertEqual(result, .success, logger.text)
        XCTAssertEqual(conversation.prompts, ["New PIN: ", "Repeat the new PIN: ", "Email code: "])
        XCTAssertEqual(conversation.infos.first, Messages.enrolling)
        XCTAssertEqual(mailer.sent.map(\.to), ["alice@example.com", "alice@example.com"], "the code, then the enrolled alert")
        XCTAssertTrue(mailer.sent[0].text.contains(Messages.enrolMailNote))
        XCTAssertEqual(header("X-EmailOTP-Alert", in: mailer.sent[1]), "enrolled", "the alert is sent whatever notify says")
        let r = try XCTUnwrap(try record())
        XCTAssertFalse(r.pending)
        XCTAssertTrue(r.enabled)
        XCTAssertEqual(r.failCount, 0)
        XCTAssertEqual(r.challenges, [])
        XCTAssertTrue(PINHash.verify(Self.newPIN, hash: try XCTUnwrap(r.pinHash)), "the PIN chosen in the login")
        XCTAssertTrue(logger.text.contains("token enrolled at the first login"), logger.text)

        // The next login is an ordinary one, with that PIN.
        let next = ScriptedConversation([answer(Self.newPIN), mailedCode()])
        XCTAssertEqual(InteractiveFlow(authenticator()).run(user: "alice", conversation: next, nullok: false, stackPIN: nil, firstPass: .no).status,
                       .success)
        XCTAssertEqual(next.prompts, ["PIN: ", "Email code: "])
    }

    func testWrongCodeEnrolsNothingAndIsCounted() throws {
        config.otpTries = 2
        try makePending()
        let (result, conversation) = interactive([answer(Self.newPIN), answer(Self.newPIN), wrongCode(), wrongCode()])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.errors, ["Wrong code. 1 try left.", "Wrong code."])
        let r = try XCTUnwrap(try record())
        XCTAssertTrue(r.pending, "still pending")
        XCTAssertNil(r.pinHash, "no PIN set by a wrong code")
        XCTAssertEqual(r.failCount, 2, "each wrong code is a failure, as for an enrolled token")
        XCTAssertEqual(mailer.sent.count, 1, "no enrolled alert")
    }

    func testWrongCodesLockAPendingEnrolmentLikeAToken() throws {
        config.maxFail = 2
        config.otpTries = 3
        try makePending()
        _ = interactive([answer(Self.newPIN), answer(Self.newPIN), wrongCode(), wrongCode(), wrongCode()])
        let r = try XCTUnwrap(try record())
        XCTAssertTrue(r.isLocked)
        XCTAssertTrue(r.pending)
        // Locked: the next login mails nothing.
        let sent = mailer.sent.count
        XCTAssertEqual(interactive([answer(Self.newPIN), answer(Self.newPIN), mailedCode()]).0, .authError)
        XCTAssertEqual(mailer.sent.count, sent)
    }

    func testMismatchedOrShortPINsAreAskedAgainAndCountNothing() throws {
        try makePending()
        let (result, conversation) = interactive([answer("abc"), answer("abc"),
                                                  answer(Self.newPIN), answer("other-pin"),
                                                  answer(Self.newPIN), answer(Self.newPIN), mailedCode()])
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.errors, ["PIN refused: the PIN is shorter than 4 characters.", Messages.pinsDiffer])
        XCTAssertEqual(try record()?.failCount, 0)
    }

    func testThreeRefusedPINsEndTheLoginWithTheEnrolmentStillPending() throws {
        try makePending()
        let (result, _) = interactive([answer("a"), answer("a"), answer("b"), answer("b"), answer("c"), answer("c")])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(try record()?.pending, true)
        XCTAssertEqual(try record()?.failCount, 0)
    }

    func testPinNoneEnrolsWithTheCodeAlone() throws {
        try makePending()
        let (result, conversation) = interactive([mailedCode()], pinMode: .none)
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["Email code: "])
        let r = try XCTUnwrap(try record())
        XCTAssertTrue(r.enabled && !r.pending)
        XCTAssertNil(r.pinHash)
    }

    func testTheCodeAnsweredWithTheNewPINIsAnEchoAndCountsNothing() throws {
        try makePending()
        let (result, conversation) = interactive([answer(Self.newPIN), answer(Self.newPIN), answer(Self.newPIN)])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.errors, [Messages.passwordAgain])
        XCTAssertEqual(try record()?.failCount, 0)
    }

    /// Charge before check: the pending record holds the challenge and its counts, and a wrong
    /// code is on disk as a failure before it is compared, as for an enrolled token.
    func testAWrongCodeIsChargedBeforeItIsCompared() throws {
        config.otpTries = 1
        try makePending()
        let faulty = FaultyStore(store)
        let auth = Authenticator(config: config, pinMode: .token, store: faulty, clock: clock, random: random,
                                 mailer: mailer, logger: logger, context: RequestContext(service: "sshd", rhost: ""))
        let conversation = ScriptedConversation([answer(Self.newPIN), answer(Self.newPIN), wrongCode()])
        XCTAssertEqual(InteractiveFlow(auth).run(user: "alice", conversation: conversation, nullok: false, stackPIN: nil, firstPass: .no).status,
                       .authError)
        let atCompare = try XCTUnwrap(faulty.onDiskAtCompare.last ?? nil)
        XCTAssertEqual(atCompare.failCount, 1, "the failure was written before the compare")
        XCTAssertTrue(atCompare.pending)
    }

    /// The same work whatever the token: a wrong code costs a pending enrolment what it costs an
    /// enrolled token — no PIN hash, one failure, one try.
    func testAWrongCodeCostsAPendingUserWhatItCostsAnEnrolledOne() throws {
        config.otpTries = 1
        try makePending()
        try enroll("bob", email: "bob@example.com")
        let auth = authenticator()
        let pendingOpened = try auth.trigger(user: "alice", pin: nil, enrolling: Enrolling())
        let enrolledOpened = try auth.trigger(user: "bob", pin: Self.pin)
        guard case .sent(let a, _) = pendingOpened, case .sent(let b, _) = enrolledOpened else {
            return XCTFail("\(pendingOpened) \(enrolledOpened)")
        }
        var hashes = PINHash.verifications
        let pendingWrong = try auth.verify(user: "alice", code: "000000", transactionID: a.transactionID, pin: nil,
                                           enrolling: Enrolling(pinHash: nil))
        XCTAssertEqual(PINHash.verifications - hashes, 0)
        hashes = PINHash.verifications
        let enrolledWrong = try auth.verify(user: "bob", code: "000000", transactionID: b.transactionID, pin: nil)
        XCTAssertEqual(PINHash.verifications - hashes, 0)
        XCTAssertEqual(pendingWrong, enrolledWrong)
        XCTAssertEqual(try record("alice")?.failCount, try record("bob")?.failCount)
        XCTAssertEqual(try record("alice")?.challenges.count, try record("bob")?.challenges.count)
    }

    // MARK: code paths that do not enrol refuse a pending record

    func testAPendingRecordIsNeverUsableAsAToken() throws {
        try makePending()
        let auth = authenticator(pinMode: .none)
        XCTAssertEqual(try auth.trigger(user: "alice", pin: nil), .refused(.disabled), "an ordinary trigger refuses it")
        XCTAssertEqual(mailer.sent.count, 0)
        // An open enrolment challenge cannot be answered by an ordinary verify either.
        guard case .sent(let opened, _) = try auth.trigger(user: "alice", pin: nil, enrolling: Enrolling()) else {
            return XCTFail("no challenge")
        }
        XCTAssertEqual(try auth.verify(user: "alice", code: try XCTUnwrap(lastCode), transactionID: opened.transactionID, pin: nil),
                       .disabled)
        XCTAssertEqual(try record()?.pending, true)
    }

    func testAnEnabledTokenIsNeverReEnrolled() throws {
        try enroll()
        let auth = authenticator()
        XCTAssertEqual(try auth.trigger(user: "alice", pin: nil, enrolling: Enrolling()), .refused(.disabled))
        XCTAssertEqual(mailer.sent.count, 0)
    }

    func testWithoutAddressCommandNoTokenKeepsTodaysRules() throws {
        config.enrollAtLogin = true
        XCTAssertEqual(interactive([answer("x")]).0, .authError)
        XCTAssertNil(try record(), "nothing written for a user the directory does not know")
        XCTAssertEqual(mailer.sent.count, 0)
        let conversation = ScriptedConversation([])
        XCTAssertEqual(InteractiveFlow(authenticator()).run(user: "alice", conversation: conversation, nullok: true, stackPIN: nil,
                                                   firstPass: .no).status, .ignore)
    }

    // MARK: challenge mode

    func testChallengeModeSaysHowToFinishThenEnrolsWithThePINBeforeTheCode() throws {
        try makePending()
        let (first, conversation) = challenge("anything")
        XCTAssertEqual(first, .authError)
        let message = try XCTUnwrap(conversation.infos.first)
        XCTAssertTrue(message.contains("log in again with a PIN you choose"), message)
        XCTAssertTrue(mailer.sent[0].text.contains("log in again with a PIN you choose"), "the mail says it too")
        XCTAssertEqual(mailer.sent[0].to, "alice@example.com")
        let code = try XCTUnwrap(lastCode)

        XCTAssertEqual(challenge(Self.newPIN + otherCode(code)).0, .authError)
        XCTAssertEqual(try record()?.failCount, 1, "a wrong code is counted")
        XCTAssertEqual(try record()?.pending, true)

        XCTAssertEqual(challenge(Self.newPIN + code).0, .success, logger.text)
        let r = try XCTUnwrap(try record())
        XCTAssertTrue(r.enabled && !r.pending)
        XCTAssertTrue(PINHash.verify(Self.newPIN, hash: try XCTUnwrap(r.pinHash)))
        XCTAssertEqual(r.failCount, 0)
    }

    func testChallengeModeRefusesATooShortPINWithoutCountingIt() throws {
        try makePending()
        _ = challenge("anything")
        let code = try XCTUnwrap(lastCode)
        let (result, conversation) = challenge("ab" + code)
        XCTAssertEqual(result, .authError)
        XCTAssertTrue(conversation.errors.first?.contains("shorter than 4") ?? false, conversation.errors.description)
        XCTAssertEqual(try record()?.failCount, 0)
        XCTAssertEqual(try record()?.pending, true)
    }

    /// `emailotp check` runs the same step: a pending user is enrolled through it too.
    func testTheCheckStepEnrolsAPendingUser() throws {
        try makePending()
        let auth = authenticator()
        let first = ChallengeFlow(auth).step(user: "alice", password: "", nullok: false)
        XCTAssertEqual(first.status, .authError)
        XCTAssertNotNil(first.challenge)
        XCTAssertTrue(first.message.contains("log in again with a PIN you choose"), first.message)
        let code = try XCTUnwrap(lastCode)
        XCTAssertEqual(ChallengeFlow(auth).step(user: "alice", password: Self.newPIN + code, nullok: false).status, .success)
        XCTAssertEqual(try record()?.stateName, "enabled")
    }

    /// In the application's process (su, sudo) the caller owns limits and signals: a command
    /// that fails there must not turn a directory user into "no token, nullok". Under
    /// enroll_at_login the shortcut never answers; the clean process asks the directory.
    func testTheNullokShortcutDoesNotAnswerUnderEnrollAtLogin() throws {
        config.addressCommand = "/nonexistent/emailotp-address"
        XCTAssertTrue(unenrolled("alice"), "without enroll_at_login: answered here")
        config.enrollAtLogin = true
        XCTAssertFalse(unenrolled("alice"), "the clean process decides")
    }

    func unenrolled(_ user: String) -> Bool {
        NullokQuery.isUnenrolled(user: user, config: config, store: store, logger: logger,
                                 context: RequestContext(service: "su", rhost: "", host: "host.example.org"))
    }

    /// The module's query in the application's process only reads: a pending enrolment is no
    /// "no token", and nothing is written or mailed whatever the answer.
    func testTheNullokQueryOnlyReads() throws {
        XCTAssertTrue(unenrolled("alice"))
        XCTAssertTrue(logger.text.contains("user=\"alice\" service=\"su\": no token, nullok: ignored"), logger.text)
        XCTAssertNil(try record(), "nothing written")
        try makePending()
        let pending = try record()
        XCTAssertFalse(unenrolled("alice"), "a pending enrolment is the flow's")
        XCTAssertEqual(try record(), pending, "nothing written")
        XCTAssertFalse(unenrolled("al\u{0}ice"), "a name that cannot be stored: the flow refuses it")
        XCTAssertTrue(mailer.sent.isEmpty)
    }

    /// trusted_networks lets a right PIN in without a code; a pending enrolment has no PIN and
    /// is activated by the mailed code only, from anywhere.
    func testATrustedNetworkDoesNotSkipTheEnrolmentCode() throws {
        config.trustedNetworks = try TrustedNetworks.parse("192.0.2.0/24")
        try makePending()
        let (result, conversation) = interactive([answer(Self.newPIN), answer(Self.newPIN), mailedCode()])
        XCTAssertEqual(result, .success, logger.text)
        XCTAssertEqual(conversation.prompts.last, "Email code: ")
        XCTAssertEqual(try record()?.stateName, "enabled")
    }
}
