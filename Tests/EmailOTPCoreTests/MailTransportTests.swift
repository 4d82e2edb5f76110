import Glibc
import XCTest
@testable import EmailOTPCore

/// The transports' own helpers and failure reports (SMTP itself runs against a real server in
/// the integration tests).
final class MailTransportTests: XCTestCase {
    func testSMTPBodyGetsCRLFLineEnds() {
        XCTAssertEqual("a\nb\n".bytesWithCRLFLineEnds(), Array("a\r\nb\r\n".utf8))
        XCTAssertEqual(".x\n".bytesWithCRLFLineEnds(), Array(".x\r\n".utf8), "libcurl dot-stuffs, not we")
    }

    func testMaildirHostPartHasNoSlashOrColon() {
        XCTAssertEqual("a/b:c.d".replacingSlashesAndColons(), "a_b_c.d")
    }

    /// With SIGCHLD ignored the kernel reaps the child itself and waitpid fails with ECHILD:
    /// that is "cannot wait", not "killed by signal 0".
    func testSendmailThatCannotBeWaitedForSaysSo() throws {
        let old = signal(SIGCHLD, SIG_IGN)
        defer { signal(SIGCHLD, old) }
        let mailer = SendmailMailer(path: "/bin/true", timeout: 10)
        XCTAssertThrowsError(try mailer.send(OutgoingMail(from: "a@example.com", to: "b@example.com", text: "x\n"))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("cannot wait for /bin/true: "), text)
            XCTAssertFalse(text.contains("signal"), text)
        }
    }

    func testSendmailExitStatusAndSignalAreReported() throws {
        XCTAssertNoThrow(try SendmailMailer(path: "/bin/true", timeout: 10).send(OutgoingMail(from: "a@example.com", to: "b@example.com", text: "x\n")))
        XCTAssertThrowsError(try SendmailMailer(path: "/bin/false", timeout: 10).send(OutgoingMail(from: "a@example.com", to: "b@example.com", text: "x\n"))) { error in
            XCTAssertEqual("\(error)", "/bin/false exited with status 1")
        }
    }
}
