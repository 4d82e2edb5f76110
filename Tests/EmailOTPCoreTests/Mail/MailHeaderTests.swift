import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPMail

/// The code, alert and send-test mails start with the same headers, built in one place
/// (MailComposer.headerLines), with one Message-ID rule.
final class MailHeaderTests: XCTestCase {
    let date: Int64 = 1_764_230_000

    func mails(host: String, codeMail: Bool = true) throws -> [(String, OutgoingMail)] {
        var config = Config()
        config.mailSender = "otp@example.org"
        let composer = MailComposer(config: config, random: SeededRandom())
        let code = codeMail ? try composer.compose(CodeMailContext(user: "alice", address: "alice@example.com", code: "482915",
                                                        transactionID: "12345678901234567890", service: "sshd",
                                                        rhost: "192.0.2.7", host: host, created: date, expires: date + 300),
                                        date: date) : nil
        let alert = try composer.composeAlert(AlertMailContext(user: "alice", address: "alice@example.com", event: .lockout,
                                                               service: "sshd", rhost: "192.0.2.7", host: host, time: date))
        let test = try composer.composeTest(to: "alice@example.com", host: host, date: date)
        return (code.map { [("code", $0)] } ?? []) + [("alert", alert), ("test", test)]
    }

    func testEveryMailStartsWithTheSameHeaders() throws {
        for (kind, mail) in try mails(host: "host.example.org") {
            let names = headerLines(mail).prefix(7).map { String($0.prefix { $0 != ":" }) }
            XCTAssertEqual(names, ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Auto-Submitted"], kind)
            XCTAssertEqual(header("Auto-Submitted", in: mail), "auto-generated", kind)
            XCTAssertTrue(header("Message-ID", in: mail)?.hasSuffix("@host.example.org>") ?? false, kind)
        }
    }

    func testMessageIDFallsBackToLocalhostAlike() throws {
        // (a host name with control characters is refused by the code mail, shown escaped by the others)
        for host in ["", "weird host!", "h\u{7F}x", "bad\r\nBcc: x@y.z"] {
            let made = host.hasControlCharacters ? try mails(host: host, codeMail: false) : try mails(host: host)
            for (kind, mail) in made {
                let id = try XCTUnwrap(header("Message-ID", in: mail), kind)
                XCTAssertTrue(id.hasPrefix("<") && id.hasSuffix("@localhost>"), "\(kind) \(host.debugDescription): \(id)")
                XCTAssertFalse(mail.text.contains("\r"), kind)
                XCTAssertFalse(mail.text.contains("\nBcc:"), kind)
            }
        }
    }
}
