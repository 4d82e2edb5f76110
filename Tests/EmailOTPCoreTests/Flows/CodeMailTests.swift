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

    /// The body of the newest mail, quoted-printable decoded and unwrapped into one line.
    func lastBody() throws -> String {
        let text = try XCTUnwrap(part("text/plain", in: try XCTUnwrap(mailer.sent.last)))
        return decodeQuotedPrintable(text).split(whereSeparator: { $0 == "\n" || $0 == " " }).joined(separator: " ")
    }

    func testTheCodeMailSaysWhatAnUnexpectedCodeMeans() throws {
        try enroll()
        _ = try authenticator().trigger(user: "alice", pin: Self.pin)
        var body = try lastBody()
        XCTAssertTrue(body.contains("If you did not ask for this code, someone has used your PIN to log in to sshd "
            + "on host.example.org from 192.0.2.7 and now waits for this code. Give the code to no one, change your PIN at once"), body)
        try enroll(pin: nil)
        _ = try authenticator(pinMode: .none).trigger(user: "alice", pin: nil)
        body = try lastBody()
        XCTAssertTrue(body.contains("someone has used your password or key to log in to sshd"), body)
    }
}
