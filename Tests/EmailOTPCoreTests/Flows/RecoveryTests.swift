import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPMail
@testable import EmailOTPToken

/// Recovery codes (emailotp(8), emailotp.conf(5)): generation, shape, hashing, single use, the flows, the fallback.
final class RecoveryTests: FlowTestCase {
    static let codes = ["abcde-12345", "zyxwv-98765", "k7m2p-q9r4s"]
    /// yescrypt is slow by design: the test codes are hashed once for the whole run.
    static var hashes = [String]()

    func giveCodes(_ user: String = "alice") throws {
        if Self.hashes.isEmpty { Self.hashes = try Self.codes.map { try RecoveryCode.hash($0, random: OpenSSLRandom()) } }
        try store.update(user: user) { $0?.recoveryHashes = Self.hashes }
    }

    // MARK: generation and shape

    func testEverySymbolIsEquallyLikelyFromEveryByte() throws {
        // Each of the 256 byte values as the first byte of a draw: the low five bits pick the
        // symbol, so each of the 32 symbols comes from exactly 8 byte values (no modulo bias).
        var counts = [Character: Int]()
        for value in 0...255 {
            let random = ScriptedRandom([[UInt8(value)] + Array(repeating: 0x1F, count: 9)])
            let code = try XCTUnwrap(try RecoveryCode.generate(count: 1, random: random).first)
            counts[try XCTUnwrap(code.first), default: 0] += 1
        }
        XCTAssertEqual(counts.count, 32)
        XCTAssertTrue(counts.values.allSatisfy { $0 == 8 }, "\(counts)")
        XCTAssertEqual(Set(counts.keys), Set("0123456789abcdefghjkmnpqrstvwxyz"))
    }

    func testADrawOfDigitsOnlyIsDrawnAgain() throws {
        let digits: [UInt8] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        let random = ScriptedRandom([digits, [10] + Array(digits.dropFirst())])
        XCTAssertEqual(try RecoveryCode.generate(count: 1, random: random), ["a1234-56789"])
        XCTAssertEqual(random.calls, 2)
    }

    func testCodesHaveTheDocumentedShapeAndDiffer() throws {
        let codes = try RecoveryCode.generate(count: RecoveryCode.maxCount, random: OpenSSLRandom())
        XCTAssertEqual(codes.count, RecoveryCode.maxCount)
        XCTAssertEqual(Set(codes).count, RecoveryCode.maxCount)
        XCTAssertThrowsError(try RecoveryCode.generate(count: RecoveryCode.maxCount + 1, random: OpenSSLRandom()))
        XCTAssertThrowsError(try RecoveryCode.generate(count: -1, random: OpenSSLRandom()))
        for code in codes {
            XCTAssertEqual(code.count, 11)
            XCTAssertEqual(Array(code)[5], "-")
            XCTAssertNotNil(RecoveryCode.normalized(code), code)
        }
    }

    func testShapeIgnoresCaseDashAndBlanksAndNeverMatchesAMailedCode() {
        XCTAssertEqual(RecoveryCode.normalized("ABCDE-12345"), "abcde12345")
        XCTAssertEqual(RecoveryCode.normalized(" abcde 12345 "), "abcde12345")
        XCTAssertEqual(RecoveryCode.normalized("abcde12345"), "abcde12345")
        for bad in ["123456", "1234567890", "abcde-1234", "abcde-123456", "abcdi-12345", "abcde-1234\u{1}", "", "ünico-12345"] {
            XCTAssertNil(RecoveryCode.normalized(bad), bad)
        }
    }

    func testSplitOfPINAndRecoveryCode() {
        XCTAssertEqual(RecoveryCode.split("pin-wordabcde-12345").map { [$0.pin, $0.code] }, ["pin-word", "abcde-12345"])
        XCTAssertEqual(RecoveryCode.split("pin-wordabcde12345").map { [$0.pin, $0.code] }, ["pin-word", "abcde12345"])
        XCTAssertNil(RecoveryCode.split("pin-word123456"))
        XCTAssertNil(RecoveryCode.split("abcde-12345"), "a code alone has no PIN before it")
    }

    func testHashesAreSaltedYescryptAndMatchOnlyTheirCode() throws {
        let first = try RecoveryCode.hash("abcde-12345", random: OpenSSLRandom())
        let second = try RecoveryCode.hash("ABCDE12345", random: OpenSSLRandom())
        XCTAssertTrue(first.hasPrefix("$y$"))
        XCTAssertNotEqual(first, second, "salted")
        XCTAssertFalse(first.contains("abcde"))
        XCTAssertEqual(RecoveryCode.match("abcde12345", hashes: [first, second]), 0)
        XCTAssertEqual(RecoveryCode.match("abcde12345", hashes: [second]), 0)
        XCTAssertNil(RecoveryCode.match("abcde12346", hashes: [first, second]))
        XCTAssertNil(RecoveryCode.match("abcde12345", hashes: []))
    }

    // MARK: interactive

    func signIn(_ answers: [(String) -> String?], pinMode: PINMode = .token) -> (AuthResult, ScriptedConversation) {
        let conversation = ScriptedConversation(answers)
        let result = InteractiveFlow(authenticator(pinMode: pinMode)).run(user: "alice", conversation: conversation, nullok: false,
                                                                  stackPIN: nil, firstPass: .no).status
        return (result, conversation)
    }

    func testRecoveryCodeAtTheCodePromptIsGoodOnce() throws {
        try enroll()
        try giveCodes()
        let (result, _) = signIn([answer(Self.pin), answer("ZYXWV-98765")])
        XCTAssertEqual(result, .success)
        let stored = try XCTUnwrap(try record())
        XCTAssertEqual(stored.recoveryHashes.count, 2, "used up")
        XCTAssertFalse(stored.recoveryHashes.contains(Self.hashes[1]))
        XCTAssertEqual(stored.challenges, [], "the challenge it answered is gone")
        XCTAssertTrue(logger.lines.contains { $0.level == .notice && $0.message.contains("recovery code used, 2 left") })
        XCTAssertFalse(logger.text.contains("zyxwv"), "the log never holds a code")

        let (again, conversation) = signIn([answer(Self.pin), answer("zyxwv-98765"), answer(nil)])
        XCTAssertNotEqual(again, .success)
        XCTAssertEqual(conversation.errors.first, "Wrong code. 2 tries left.")
        XCTAssertEqual(try record()?.failCount, 1, "a used code counts a failure like a wrong code")
    }

    func testWrongRecoveryCodeCostsATryAndAFailure() throws {
        try enroll()
        try giveCodes()
        let (result, _) = signIn([answer(Self.pin), answer("aaaaa-aaaaa"), mailedCode()])
        XCTAssertEqual(result, .success, "the mailed code still works on the next try")
        XCTAssertEqual(try record()?.recoveryHashes.count, 3)
        XCTAssertEqual(try record()?.failCount, 0, "the success cleared it")
        let (_, conversation) = signIn([answer(Self.pin), answer("aaaaa-aaaaa"), answer(nil)])
        XCTAssertEqual(conversation.errors.first, "Wrong code. 2 tries left.")
        XCTAssertEqual(try record()?.failCount, 1)
    }

    func testNoCodesMeansEveryRecoveryAnswerIsWrong() throws {
        try enroll()
        let (result, _) = signIn([answer(Self.pin), answer("abcde-12345"), answer(nil)])
        XCTAssertEqual(result, .conversationError)
        XCTAssertEqual(try record()?.failCount, 1)
    }

    // MARK: challenge mode

    func testChallengeModeTakesPINPlusRecoveryCodeWithoutAMail() throws {
        try enroll()
        try giveCodes()
        let step = ChallengeFlow(authenticator()).step(user: "alice", password: Self.pin + "abcde-12345", nullok: false)
        XCTAssertEqual(step.status, .success)
        XCTAssertEqual(mailer.sent.filter { header("X-EmailOTP-Transaction-Id", in: $0) != nil }.count, 0)
        XCTAssertEqual(try record()?.recoveryHashes.count, 2)
        let again = ChallengeFlow(authenticator()).step(user: "alice", password: Self.pin + "abcde12345", nullok: false)
        XCTAssertEqual(again.status, .authError)
        XCTAssertEqual(try record()?.failCount, 1)
        let other = ChallengeFlow(authenticator()).step(user: "alice", password: Self.pin + "k7m2pq9r4s", nullok: false)
        XCTAssertEqual(other.status, .success, "without the dash too")
    }

    func testChallengeModeWithWrongPINAndRecoveryCodeIsAWrongPIN() throws {
        try enroll()
        try giveCodes()
        let step = ChallengeFlow(authenticator()).step(user: "alice", password: "wrong-pin" + "abcde-12345", nullok: false)
        XCTAssertEqual(step.status, .authError)
        XCTAssertEqual(try record()?.recoveryHashes.count, 3, "not used")
        XCTAssertEqual(try record()?.failCount, 2, "two PIN candidates (before the recovery code, the whole password)")
    }

    func testChallengeModeWithoutPINTakesTheRecoveryCodeAlone() throws {
        try enroll(pin: nil)
        try giveCodes()
        let step = ChallengeFlow(authenticator(pinMode: .none)).step(user: "alice", password: "abcde-12345", nullok: false)
        XCTAssertEqual(step.status, .success)
    }

    // MARK: mail-outage fallback

    func testFailedMailOffersTheRecoveryPrompt() throws {
        try enroll()
        try giveCodes()
        mailer.failure = MailError("connection refused")
        let (result, conversation) = signIn([answer(Self.pin), answer("nonsense"), answer("abcde-12345")])
        XCTAssertEqual(result, .success)
        XCTAssertEqual(conversation.prompts, ["PIN: ", "Recovery code: ", "Recovery code: "])
        XCTAssertEqual(conversation.errors, [RecoveryFallback.message, RecoveryFallback.notACode])
        XCTAssertEqual(try record()?.recoveryHashes.count, 2)
        XCTAssertEqual(try record()?.challenges, [], "the challenge of the failed mail is gone")
    }

    func testFailedMailWithoutCodesStaysUnavailable() throws {
        try enroll()
        mailer.failure = MailError("connection refused")
        let (result, conversation) = signIn([answer(Self.pin), answer("abcde-12345")])
        XCTAssertEqual(result, .unavailable)
        XCTAssertEqual(conversation.prompts, ["PIN: "])
        XCTAssertEqual(conversation.errors, [Messages.mailFailed])
    }

    func testFailedMailAfterWrongPINOffersNothing() throws {
        try enroll()
        try giveCodes()
        mailer.failure = MailError("connection refused")
        let (result, conversation) = signIn([answer("wrong-pin"), answer("abcde-12345")])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.prompts, ["PIN: "])
    }

    func testFallbackDecision() throws {
        var token = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        XCTAssertFalse(RecoveryFallback.offered(for: nil))
        XCTAssertFalse(RecoveryFallback.offered(for: token), "no codes")
        token.recoveryHashes = ["$y$x"]
        XCTAssertTrue(RecoveryFallback.offered(for: token))
        token.lockedAt = 5
        XCTAssertFalse(RecoveryFallback.offered(for: token), "locked")
        token.lockedAt = 0
        token.enabled = false
        XCTAssertFalse(RecoveryFallback.offered(for: token), "disabled")
    }

    func testFallbackWrongCodesCountFailuresUpToTheLock() throws {
        config.maxFail = 2
        config.notify = []
        try enroll()
        try giveCodes()
        mailer.failure = MailError("connection refused")
        let (result, conversation) = signIn([answer(Self.pin), answer("aaaaa-aaaaa"), answer("bbbbb-bbbbb"), answer("abcde-12345")])
        XCTAssertEqual(result, .authError)
        XCTAssertEqual(conversation.prompts.filter { $0 == RecoveryFallback.prompt }.count, 2, "no prompt once locked")
        XCTAssertEqual(try record()?.isLocked, true)
        XCTAssertEqual(try record()?.recoveryHashes.count, 3)
    }
}
