import Glibc
import XCTest
@testable import EmailOTPOwnToken
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPHelper
@testable import EmailOTPMail
@testable import EmailOTPStore
@testable import EmailOTPToken

/// A user's verbs on their own token (OwnToken, served by the helper): the proof is a login
/// (PIN, then a code mailed for it) charged like any, and every change is logged and mailed.
final class OwnTokenTests: FlowTestCase {
    func own(_ conversation: Conversation, user: String = "alice") -> OwnToken {
        let proof = OwnToken.proofSettings(config)
        return OwnToken(user: user, config: config, authenticator: { [unowned self] mode in
            Authenticator(config: proof, pinMode: mode, store: self.store, clock: self.clock, random: self.random,
                          mailer: self.mailer, logger: self.logger,
                          context: RequestContext(service: "emailotp set-pin (own token of uid 1000)", rhost: "", host: "host.example.org"))
        }, conversation: conversation, random: random)
    }

    func alerts() -> [OutgoingMail] { mailer.sent.filter { header("X-EmailOTP-Alert", in: $0) == "own_token" } }

    /// A cached grant (auth_cache on) and a remembered host.
    func withTrust() throws {
        config.authCache = 600
        try store.update(user: "alice") {
            $0?.cachedGrants = [CachedGrant(hash: String(repeating: "b", count: 64), granted: self.clock.now(), expires: self.clock.now() + 600)]
            $0?.remembered = [RememberedHost(id: String(repeating: "c", count: 64), created: self.clock.now(), expires: self.clock.now() + 600)]
        }
    }

    func testSetPINAsksTheOldPINAndAMailedCodeThenTheNewOneTwice() throws {
        try enroll()
        let talk = ScriptedConversation([answer(Self.pin), mailedCode(), answer("new-pin-word"), answer("new-pin-word")])
        XCTAssertEqual(own(talk).run(.setPIN), .success)
        XCTAssertEqual(talk.prompts.count, 4)
        XCTAssertEqual(talk.echoes, [false, false, false, false])
        XCTAssertTrue(PINHash.verify("new-pin-word", hash: try XCTUnwrap(record()?.pinHash)))
        XCTAssertEqual(alerts().count, 1)
        XCTAssertTrue(logger.text.contains("PIN changed by the token's owner"))
        // The code mail says what it is for.
        XCTAssertTrue(decodeQuotedPrintable(mailer.sent[0].text).contains("emailotp set-pin"))
    }

    func testAWrongCodeChangesNothingAndIsCounted() throws {
        let before = try enroll()
        let talk = ScriptedConversation([answer(Self.pin), wrongCode(), wrongCode(), wrongCode(), answer("new-pin-word"), answer("new-pin-word")])
        XCTAssertEqual(own(talk).run(.setPIN), .authError)
        let after = try XCTUnwrap(record())
        XCTAssertEqual(after.pinHash, before.pinHash)
        XCTAssertEqual(after.failCount, config.otpTries)
        XCTAssertFalse(talk.prompts.contains("New PIN: "))
        XCTAssertTrue(alerts().isEmpty)
    }

    func testAWrongPINMailsNothingChangesNothingAndIsCounted() throws {
        try enroll()
        try withTrust()
        let talk = ScriptedConversation([answer("not-the-pin"), answer("x"), answer("new-pin-word"), answer("new-pin-word")])
        XCTAssertEqual(own(talk).run(.recoveryCodes(count: 5)), .authError)
        XCTAssertTrue(mailer.sent.isEmpty)
        let after = try XCTUnwrap(record())
        XCTAssertEqual(after.failCount, 1)
        XCTAssertEqual(after.recoveryHashes, [])
        XCTAssertEqual(after.cachedGrants.count, 1)
        XCTAssertEqual(after.remembered.count, 1)
    }

    func testAUserWithoutATokenIsAskedThePINAndRefusedAlike() throws {
        let talk = ScriptedConversation([answer("not-the-pin"), answer("123456")])
        XCTAssertEqual(own(talk).run(.setPIN), .authError)
        XCTAssertEqual(talk.prompts, [config.pinPrompt])
        XCTAssertNil(try record())
        XCTAssertTrue(mailer.sent.isEmpty)
    }

    func testATokenWithoutPINIsProvedByTheCodeAlone() throws {
        try enroll(pin: nil)
        let talk = ScriptedConversation([mailedCode(), answer("new-pin-word"), answer("new-pin-word")])
        XCTAssertEqual(own(talk).run(.setPIN), .success)
        XCTAssertTrue(PINHash.verify("new-pin-word", hash: try XCTUnwrap(record()?.pinHash)))
    }

    func testMismatchedOrShortNewPINsChangeNothing() throws {
        let before = try enroll()
        for (first, second) in [("new-pin-word", "new-pin-wort"), ("1", "1")] {
            let talk = ScriptedConversation([answer(Self.pin), mailedCode(), answer(first), answer(second)])
            XCTAssertEqual(own(talk).run(.setPIN), .authError)
            XCTAssertEqual(try record()?.pinHash, before.pinHash)
            XCTAssertEqual(talk.errors.count, 1)
        }
    }

    func testAnOpenChallengeOfALoginIsNeverReusedForTheProof() throws {
        try enroll()
        config.resendInterval = 600
        let login = ScriptedConversation([answer(Self.pin), answer(nil)])
        _ = InteractiveFlow(authenticator()).run(user: "alice", conversation: login, nullok: false, stackPIN: nil, firstPass: .no).status
        let loginCode = try XCTUnwrap(lastCode)
        let talk = ScriptedConversation([answer(Self.pin), answer(loginCode), answer("new-pin-word"), answer("new-pin-word")])
        XCTAssertEqual(own(talk).run(.setPIN), .authError)
        XCTAssertEqual(mailer.sent.count, 2)
    }

    func testRecoveryCodesAreShownOnceStoredHashedAndAlerted() throws {
        try enroll()
        let talk = ScriptedConversation([answer(Self.pin), mailedCode()])
        XCTAssertEqual(own(talk).run(.recoveryCodes(count: 4)), .success)
        let shown = try XCTUnwrap(talk.infos.last).split(separator: "\n").dropFirst().map(String.init)
        XCTAssertEqual(shown.count, 4)
        let stored = try XCTUnwrap(record()).recoveryHashes
        XCTAssertEqual(stored.count, 4)
        XCTAssertFalse(stored.contains(shown[0]))
        XCTAssertEqual(alerts().count, 1)
    }

    func testForgetDropsRememberedHostsAndGrantsWithoutAProofAndAlerts() throws {
        try enroll()
        try withTrust()
        let talk = ScriptedConversation()
        XCTAssertEqual(own(talk).run(.forget), .success)
        XCTAssertTrue(talk.prompts.isEmpty)
        XCTAssertEqual(try record()?.cachedGrants, [])
        XCTAssertEqual(try record()?.remembered.count, 0)
        XCTAssertEqual(talk.infos, ["alice: forgot 1 remembered host and 1 cached grant"])
        XCTAssertEqual(alerts().count, 1)
    }

    func testStatusShowsTheMaskedAddressLockAndCounts() throws {
        try enroll()
        try withTrust()
        try store.update(user: "alice") { $0?.recoveryHashes = ["$y$a", "$y$b"] }
        let talk = ScriptedConversation()
        XCTAssertEqual(own(talk).run(.status), .success)
        let text = talk.infos.joined(separator: "\n")
        XCTAssertTrue(text.contains("address:     a***@"), text)
        XCTAssertFalse(text.contains("alice@example.com"))
        XCTAssertTrue(text.contains("locked:      no"))
        XCTAssertTrue(text.contains("recovery:    2 codes left"))
        XCTAssertTrue(text.contains("remembered:  1 host"))
        XCTAssertTrue(text.contains("cached:      1 grant"))
        XCTAssertTrue(mailer.sent.isEmpty)
        let none = ScriptedConversation()
        XCTAssertEqual(own(none, user: "bob").run(.status), .success)
        XCTAssertEqual(none.infos, ["bob: no token (not enrolled)"])
    }

    func testAPendingEnrolmentIsNeitherProvedNorEnrolledByTheVerbs() throws {
        try store.update(user: "alice") { $0 = TokenRecord.pending(user: "alice", email: "alice@example.com") }
        let talk = ScriptedConversation([answer(Self.pin), mailedCode(), answer("new-pin-word"), answer("new-pin-word")])
        XCTAssertEqual(own(talk).run(.setPIN), .authError)
        XCTAssertTrue(talk.prompts.isEmpty)
        XCTAssertTrue(mailer.sent.isEmpty)
        XCTAssertEqual(try record()?.pending, true)
        let status = ScriptedConversation()
        XCTAssertEqual(own(status).run(.status), .success)
        XCTAssertTrue(status.infos.joined().contains("pending"))
    }

    func testEnrolAtLoginIsOffForTheProof() throws {
        config.enrollAtLogin = true
        config.addressCommand = "/bin/echo"
        XCTAssertFalse(OwnToken.proofSettings(config).enrollAtLogin)
        XCTAssertEqual(OwnToken.proofSettings(config).resendInterval, 0)
    }
}
