import XCTest
@testable import EmailOTPMail

/// The one code-mail path: a login's trigger and `emailotp enroll --verify` compose and send
/// through `Authenticator.sendCodeMail`.
final class CodeMailTests: FlowTestCase {
    func testVerificationCodeGoesOutLikeALoginCode() throws {
        config.otpLength = 8
        let mailed = try authenticator().mailVerificationCode(user: "carol", address: "carol@example.net")
        XCTAssertEqual(mailed.utf8.count, 8)
        XCTAssertTrue(mailed.isASCIIDigits)
        let mail = try XCTUnwrap(mailer.sent.last)
        XCTAssertEqual(mail.to, "carol@example.net")
        XCTAssertEqual(mail.from, "otp@example.org")
        XCTAssertEqual(code(in: mail), mailed, "the mail carries the returned code, in the configured template")
        XCTAssertTrue(mail.text.contains("Hello carol,"))
        XCTAssertNil(try record("carol"), "no token or challenge is made")
    }

    func testVerificationMailFailureIsThrown() throws {
        mailer.failure = MailError("relay down")
        XCTAssertThrowsError(try authenticator().mailVerificationCode(user: "carol", address: "carol@example.net")) { error in
            XCTAssertEqual(error as? MailError, MailError("relay down"))
        }
    }

    func testABadAddressIsRefusedBeforeAnyMail() throws {
        XCTAssertThrowsError(try authenticator().mailVerificationCode(user: "carol", address: "carol@example.net\r\nBcc: x@y"))
        XCTAssertTrue(mailer.sent.isEmpty)
    }
}
