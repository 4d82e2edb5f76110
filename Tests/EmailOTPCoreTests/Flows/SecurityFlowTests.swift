import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPSystem

/// NSS as SSSD or winbind answer it: several spellings, one account.
struct FakeAccounts: AccountDirectory {
    var names: [String: String]
    func canonicalName(_ name: String) -> String? { names[name] }
}

/// The security properties that live in the flows: try_first_pass as a PIN oracle, locked and
/// disabled tokens, name variants, over-long names, the challenge split, log forging.
final class SecurityFlowTests: FlowTestCase {
    var accounts = FakeAccounts(names: [:])

    func auth(pinMode: PINMode = .token, rhost: String = "192.0.2.7", service: String = "sshd") -> Authenticator {
        var a = Authenticator(config: config, pinMode: pinMode, store: store, clock: clock, random: random,
                              mailer: mailer, logger: logger,
                              context: RequestContext(service: service, rhost: rhost, host: "host.example.org"))
        a.accounts = accounts
        return a
    }

    func interactive(_ answers: [(String) -> String?], user: String = "alice", nullok: Bool = false,
                     stackPIN: String? = nil, firstPass: FirstPass = .no) -> (AuthResult, ScriptedConversation) {
        let conversation = ScriptedConversation(answers)
        let result = InteractiveFlow(auth()).run(user: user, conversation: conversation, nullok: nullok,
                                        stackPIN: stackPIN, firstPass: firstPass).status
        return (result, conversation)
    }

    func challenge(_ answers: [(String) -> String?], user: String = "alice", nullok: Bool = false,
                   stackPIN: String? = nil, firstPass: FirstPass = .no) -> (AuthResult, ScriptedConversation) {
        let conversation = ScriptedConversation(answers)
        let result = ChallengeFlow(auth()).run(user: user, conversation: conversation, nullok: nullok,
                                      stackPIN: stackPIN, firstPass: firstPass).status
        return (result, conversation)
    }

    func hashes(_ body: () -> Void) -> Int {
        let before = PINHash.verifications
        body()
        return PINHash.verifications - before
    }

    // MARK: 2. try_first_pass

    func testTryFirstPassWrongStackedPINFollowedByEOFCountsAMiss() throws {
        try enroll()
        let (result, conversation) = interactive([answer(nil)], stackPIN: "unix-password", firstPass: .try)
        XCTAssertEqual(result, .conversationError)
        XCTAssertEqual(conversation.prompts, ["PIN: "])
        XCTAssertEqual(try record()?.failCount, 1, "a stacked guess not followed by the right PIN is a miss")
    }

    func testTryFirstPassWrongStackedPINFollowedByTheRightPINCountsNothing() throws {
        try enroll()
        let (result, conversation) = interactive([answer(Self.pin), mailedCode()], stackPIN: "unix-password", firstPass: .try)
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["PIN: ", "Email code: "])
        XCTAssertEqual(try record()?.failCount, 0)
    }

    func testTryFirstPassWrongStackedAndWrongTypedPINCountTwoMisses() throws {
        try enroll()
        let (result, _) = interactive([answer("also-wrong")], stackPIN: "unix-password", firstPass: .try)
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(try record()?.failCount, 2)
        XCTAssertEqual(mailer.sent.count, 0)
    }

    func testTryFirstPassStackedGuessesLockTheToken() throws {
        config.maxFail = 3
        try enroll()
        for guess in ["guess-1", "guess-2", "guess-3"] { _ = interactive([answer(nil)], stackPIN: guess, firstPass: .try) }
        XCTAssertTrue(try record()?.isLocked ?? false)
    }

    func testTryFirstPassOnALockedTokenIsNoOracle() throws {
        config.maxFail = 1
        try enroll()
        _ = interactive([answer("wrong")])
        XCTAssertTrue(try record()?.isLocked ?? false)
        // The right PIN on the stack: still the prompt, as for a wrong one.
        let (right, rightConversation) = interactive([answer(nil)], stackPIN: Self.pin, firstPass: .try)
        let (wrong, wrongConversation) = interactive([answer(nil)], stackPIN: "not-the-pin", firstPass: .try)
        XCTAssertEqual(right, wrong)
        XCTAssertEqual(rightConversation.prompts, ["PIN: "])
        XCTAssertEqual(rightConversation.prompts, wrongConversation.prompts)
        XCTAssertEqual(rightConversation.errors, wrongConversation.errors)
        XCTAssertEqual(mailer.sent.count, 0)
    }

    func testTryFirstPassHashesTheSameForAnUnknownUser() throws {
        try enroll()
        let known = hashes { _ = interactive([answer(nil)], user: "alice", stackPIN: "unix-password", firstPass: .try) }
        let unknown = hashes { _ = interactive([answer(nil)], user: "mallory", stackPIN: "unix-password", firstPass: .try) }
        XCTAssertEqual(known, 1)
        XCTAssertEqual(unknown, known, "the stacked check must not reveal enrolment by its work")
    }

    func testTryFirstPassRightStackedPINAsksNoPIN() throws {
        try enroll()
        let (result, conversation) = interactive([mailedCode()], stackPIN: Self.pin, firstPass: .try)
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["Email code: "])
    }

    func testChallengeTryFirstPassWrongStackedPasswordLeadsToThePrompt() throws {
        try enroll()
        let (result, conversation) = challenge([answer(Self.pin)], stackPIN: "unix-password", firstPass: .try)
        XCTAssertEqual(result, .authError, "the first step mails the code and denies")
        XCTAssertEqual(conversation.prompts, ["PIN: "])
        XCTAssertEqual(mailer.sent.count, 1)
        XCTAssertEqual(conversation.infos.count, 1)
        XCTAssertEqual(try record()?.failCount, 0, "the right PIN followed the stacked miss")
    }

    func testChallengeTryFirstPassMissWithoutARightPINIsCounted() throws {
        try enroll()
        XCTAssertEqual(challenge([answer(nil)], stackPIN: "unix-password", firstPass: .try).0, .conversationError)
        XCTAssertEqual(try record()?.failCount, 1)
        XCTAssertEqual(challenge([answer("wrong-again")], stackPIN: "unix-password", firstPass: .try).0, .authError)
        XCTAssertEqual(try record()?.failCount, 3)
    }

    func testChallengeTryFirstPassRightStackedPINAndCodeGrantWithoutPrompt() throws {
        try enroll()
        _ = challenge([answer(Self.pin)])
        let code = try XCTUnwrap(lastCode)
        let (result, conversation) = challenge([], stackPIN: Self.pin + code, firstPass: .try)
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, [])
    }

    func testChallengeUseFirstPassWithoutStackedPasswordFails() throws {
        try enroll()
        let (result, conversation) = challenge([answer(Self.pin)], firstPass: .use)
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.prompts, [])
    }

    // MARK: 5. name variants

    func testNameVariantUnderNullokUsesTheAccountsToken() throws {
        try enroll()
        accounts.names = ["ALICE": "alice", "alice@EXAMPLE": "alice"]
        for variant in ["ALICE", "alice@EXAMPLE"] {
            let (result, conversation) = interactive([answer("wrong-pin")], user: variant, nullok: true)
            XCTAssertEqual(result, .authError, "\(variant) must not skip the factor")
            XCTAssertEqual(conversation.prompts, ["PIN: "])
        }
        XCTAssertEqual(try record()?.failCount, 2, "the misses count on alice's token")
        XCTAssertEqual(challenge([answer("wrong-pin")], user: "ALICE", nullok: true).0, .authError)
    }

    func testNameUnknownToNSSIsUsedAsGiven() throws {
        try enroll("sa_victim", email: "v@example.com")
        let (result, _) = interactive([answer(Self.pin)], user: "SA_VICTIM", nullok: true)
        XCTAssertEqual(result, .ignore, "without an NSS mapping the name stays what it is")
    }

    func testSystemAccountsCanonicaliseRoot() {
        XCTAssertEqual(SystemAccounts().canonicalName("root"), "root")
        XCTAssertNil(SystemAccounts().canonicalName("no-such-user-emailotp-\(getpid())"))
    }

    // MARK: 8. challenge split

    func testChallengeSplitCostsTheSameForUnknownAndEnrolledUsers() throws {
        try enroll()
        let password = "not-the-pin" + "123456"
        let known = hashes { _ = ChallengeFlow(auth()).step(user: "alice", password: password, nullok: false) }
        let unknown = hashes { _ = ChallengeFlow(auth()).step(user: "mallory", password: password, nullok: false) }
        XCTAssertEqual(known, 2)
        XCTAssertEqual(unknown, known)
        XCTAssertEqual(try record()?.failCount, 2, "one password tested as two PINs, two misses")
    }

    // MARK: 9. over-long names, nullok before the prompt

    func testOverLongEncodedNameIsRefusedUpFrontWithoutFiles() throws {
        try enroll()
        let name = String(repeating: "%", count: 81)
        for run in [{ self.interactive([self.answer(Self.pin)], user: name) }, { self.challenge([self.answer(Self.pin)], user: name) }] {
            let (result, conversation) = run()
            XCTAssertEqual(result, .userUnknown)
            XCTAssertEqual(conversation.prompts, [], "refused before any prompt")
        }
        XCTAssertTrue(logger.text.contains("too long to store"))
        XCTAssertEqual(TempDir.walk(storeDirectory).filter { $0.contains("%25") }, [], "no stray lock or temporary file")
    }

    func testChallengeNullokIsDecidedBeforeThePINPrompt() throws {
        let (result, conversation) = challenge([answer(Self.pin)], user: "nobody-here", nullok: true)
        XCTAssertEqual(result, .ignore)
        XCTAssertEqual(conversation.prompts, [])
    }

    // MARK: 4. log forging

    func testLogFieldsAreQuotedAndEscaped() throws {
        let forged = "mallory\nNov 27 20:55:00 vm sshd[999]: Accepted password for root"
        let rhost = "10.0.0.7\u{85}x\u{2028}y\u{202E}z\u{2066}\"q\\"
        let conversation = ScriptedConversation([answer("x")])
        _ = InteractiveFlow(auth(rhost: rhost, service: "ssh\u{9B}d")).run(user: forged, conversation: conversation, nullok: false,
                                                                  stackPIN: nil, firstPass: .no).status
        XCTAssertFalse(logger.lines.isEmpty)
        for line in logger.lines {
            XCTAssertFalse(line.message.unicodeScalars.contains(where: LogText.needsEscape), line.message)
            XCTAssertTrue(line.message.hasPrefix("user=\"mallory\\x0ANov 27 20:55:00 vm sshd[999]: Accepted password for root\" "
                                                 + "service=\"ssh\\x9Bd\" rhost=\"10.0.0.7\\x85x\\u{2028}y\\u{202E}z\\u{2066}\\\"q\\\\\": "),
                          line.message)
        }
    }

    func testLogFieldTruncationIsMarked() {
        let user = String(repeating: "a", count: 80) + " rhost=203.0.113.9: granted"
        XCTAssertEqual(LogText.quoted(user), "\"" + String(repeating: "a", count: 80) + "\"…(truncated)")
        XCTAssertEqual(LogText.quoted(String(repeating: "b", count: 80)), "\"" + String(repeating: "b", count: 80) + "\"")
    }

    func testEveryControlAndFormatCharacterIsEscaped() {
        for value: UInt32 in [0x00, 0x0A, 0x0D, 0x1B, 0x7F, 0x80, 0x85, 0x9F, 0xAD, 0x200B, 0x200E, 0x200F, 0x2028, 0x2029,
                              0x202A, 0x202E, 0x2066, 0x2069, 0xFEFF, 0xE000] {
            guard let scalar = Unicode.Scalar(value) else { return XCTFail("\(value)") }
            XCTAssertTrue(LogText.needsEscape(scalar), "U+\(String(value, radix: 16))")
            XCTAssertFalse(LogText.escaped("a\(scalar)b").unicodeScalars.contains(scalar))
        }
        XCTAssertEqual(LogText.escaped("café ü 日本"), "café ü 日本", "ordinary letters stay")
    }
}
