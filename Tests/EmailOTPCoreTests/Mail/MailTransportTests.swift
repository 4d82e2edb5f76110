import Glibc
import XCTest
@testable import EmailOTPMail
@testable import EmailOTPSystem

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

    let mail = OutgoingMail(from: "a@example.com", to: "b@example.com", text: "x\n")

    /// A stand-in sendmail that reads the whole message, then exits with `status`.
    func fakeSendmail(in directory: String, status: Int) throws -> String {
        let path = directory + "/sendmail"
        let fd = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o700)
        try fd.writeAll(Array("#!/bin/sh\ncat >/dev/null\nexit \(status)\n".utf8))
        return path
    }

    /// With SIGCHLD ignored the kernel would reap the child itself: the mailer keeps SIGCHLD at
    /// its default while it waits, so the status still counts.
    func testSendmailStatusSurvivesAnIgnoredSIGCHLD() throws {
        let directory = try TempDir.make()
        defer { TempDir.remove(directory) }
        let path = try fakeSendmail(in: directory, status: 4)
        let old = signal(SIGCHLD, SIG_IGN)
        defer { signal(SIGCHLD, old) }
        XCTAssertThrowsError(try SendmailMailer(path: path, timeout: 10).send(mail)) { error in
            XCTAssertEqual("\(error)", "\(path) exited with status 4")
        }
    }

    func testSendmailExitStatusIsReported() throws {
        let directory = try TempDir.make()
        defer { TempDir.remove(directory) }
        XCTAssertNoThrow(try SendmailMailer(path: try fakeSendmail(in: directory, status: 0), timeout: 10).send(mail))
        TempDir.remove(directory + "/sendmail")
        let failing = try fakeSendmail(in: directory, status: 3)
        XCTAssertThrowsError(try SendmailMailer(path: failing, timeout: 10).send(mail)) { error in
            XCTAssertEqual("\(error)", "\(failing) exited with status 3")
        }
    }

    /// The Maildir file name comes from the injected clock and randomness: time.pid_random.host.
    func testMaildirNameUsesTheInjectedClockAndRandomness() throws {
        let directory = try TempDir.make()
        defer { TempDir.remove(directory) }
        let mailer = MaildirMailer(directory: directory + "/mail", clock: TestClock(1_764_230_000),
                                   random: ScriptedRandom([[1, 2, 3, 4, 5, 6, 7, 8]]))
        try mailer.send(OutgoingMail(from: "a@example.com", to: "b@example.com", text: "x\n"))
        let names = try SafeFile.list(directory + "/mail/new")
        XCTAssertEqual(names, ["1764230000.\(getpid())_0102030405060708.\(Host.name().replacingSlashesAndColons())"])
        XCTAssertEqual(try SafeFile.list(directory + "/mail/tmp"), [])
    }
}
