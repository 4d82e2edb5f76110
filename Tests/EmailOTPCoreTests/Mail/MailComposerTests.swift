import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPMail
@testable import EmailOTPSystem

/// The code mail: RFC 5322 headers, MIME parts, no header injection, the code only in the body.
final class MailComposerTests: XCTestCase {
    var config = Config()
    let date: Int64 = 1_764_230_000

    override func setUp() {
        super.setUp()
        config = Config()
        config.mailSender = "otp@example.org"
    }

    func context(user: String = "alice", address: String = "alice@example.com", code: String = "482915",
                 service: String = "sshd", rhost: String = "192.0.2.7", host: String = "host.example.org") -> CodeMailContext {
        CodeMailContext(user: user, address: address, code: code, transactionID: "12345678901234567890", service: service,
                        rhost: rhost, host: host, created: date, expires: date + 300)
    }

    func compose(_ context: CodeMailContext) throws -> OutgoingMail {
        try MailComposer(config: config, random: SeededRandom()).compose(context, date: date)
    }

    func testHeadersArePresent() throws {
        let mail = try compose(context())
        XCTAssertEqual(mail.from, "otp@example.org")
        XCTAssertEqual(mail.to, "alice@example.com")
        let date = try XCTUnwrap(header("Date", in: mail))
        let pattern = try Regex(#"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"#)
        XCTAssertNotNil(date.wholeMatch(of: pattern), date)
        XCTAssertEqual(header("From", in: mail), "otp@example.org")
        XCTAssertEqual(header("To", in: mail), "alice@example.com")
        XCTAssertEqual(header("Subject", in: mail), "Your one-time code for sshd on host.example.org")
        let id = try XCTUnwrap(header("Message-ID", in: mail))
        XCTAssertTrue(id.hasPrefix("<") && id.hasSuffix("@host.example.org>"), id)
        XCTAssertEqual(header("MIME-Version", in: mail), "1.0")
        XCTAssertEqual(header("X-EmailOTP-Transaction-Id", in: mail), "12345678901234567890")
        XCTAssertTrue(header("Content-Type", in: mail)?.hasPrefix("multipart/alternative; boundary=") ?? false)
    }

    func testMessageIDsDiffer() throws {
        let a = try MailComposer(config: config, random: OpenSSLRandom()).compose(context(), date: date)
        let b = try MailComposer(config: config, random: OpenSSLRandom()).compose(context(), date: date)
        XCTAssertNotEqual(header("Message-ID", in: a), header("Message-ID", in: b))
    }

    func testDefaultBodySaysCodeUserHostServiceAndValidity() throws {
        let mail = try compose(context())
        let text = try XCTUnwrap(part("text/plain; charset=utf-8", in: mail))
        XCTAssertTrue(text.contains("Hello alice,"))
        XCTAssertTrue(text.contains("\n    482915\n"), "the code alone on a line, indented by four spaces")
        XCTAssertTrue(text.contains("sshd on host.example.org"))
        XCTAssertTrue(text.contains("valid for 5 minutes, until \(TimeFormat.local(date + 300))"))
        XCTAssertTrue(text.contains("Transaction id: 12345678901234567890"))
        XCTAssertTrue(text.contains("192.0.2.7"))
        XCTAssertEqual(code(in: mail), "482915", "the raw quoted-printable body keeps the code line")
    }

    func testCRLFInAddressIsRefused() {
        for address in ["alice@example.com\r\nBcc: eve@evil.example", "alice@example.com\nBcc: x@y.z", "alice\r@example.com",
                        "Alice <alice@example.com>", "alice@example.com, eve@evil.example", ""] {
            XCTAssertThrowsError(try compose(context(address: address)), address)
        }
    }

    func testCRLFInSenderIsRefused() {
        config.mailSender = "otp@example.org\r\nBcc: eve@evil.example"
        XCTAssertThrowsError(try compose(context()))
    }

    func testControlCharactersInUserServiceHostRhostAreRefused() {
        XCTAssertThrowsError(try compose(context(user: "alice\r\nBcc: eve@evil.example")))
        XCTAssertThrowsError(try compose(context(user: "alice\n")))
        XCTAssertThrowsError(try compose(context(user: "al\u{0}ice")))
        XCTAssertThrowsError(try compose(context(service: "sshd\r\nX: y")))
        XCTAssertThrowsError(try compose(context(rhost: "evil\nBcc: x")))
        XCTAssertThrowsError(try compose(context(host: "h\r\nX: y")))
        XCTAssertThrowsError(try compose(context(user: "alice\u{85}")), "C1 controls too")
    }

    func testCRLFInSubjectTemplateIsRefused() {
        config.mailSubject = "Your code\r\nBcc: eve@evil.example"
        XCTAssertThrowsError(try compose(context()))
        config.mailSubject = "Your code\nBcc: eve@evil.example"
        XCTAssertThrowsError(try compose(context()))
    }

    func testNoInjectedHeaderEverAppears() throws {
        // Whatever passes composition has exactly the expected header lines.
        let mail = try compose(context(user: "alice: Bcc eve@evil.example"))
        let names = headerLines(mail).filter { !$0.hasPrefix(" ") }.map { String($0.prefix { $0 != ":" }) }
        XCTAssertEqual(names, ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Auto-Submitted",
                               "X-EmailOTP-Transaction-Id", "Content-Type"])
    }

    func testNonASCIISubjectIsRFC2047Encoded() throws {
        config.mailSubject = "Ihr Einmalcode für {service} – {user}"
        let mail = try compose(context(user: "jürgen"))
        let subject = try XCTUnwrap(header("Subject", in: mail))
        XCTAssertTrue(subject.hasPrefix("=?UTF-8?B?"), subject)
        XCTAssertTrue(subject.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "the header is ASCII")
        XCTAssertEqual(decodeEncodedWords(subject), "Ihr Einmalcode für sshd – jürgen")
        for line in headerLines(mail) {
            XCTAssertLessThanOrEqual(line.utf8.count, 998)
            XCTAssertTrue(line.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, line)
        }
    }

    func testLongNonASCIISubjectIsFoldedIntoSeveralWords() throws {
        config.mailSubject = String(repeating: "ä", count: 150)
        let mail = try compose(context())
        let lines = headerLines(mail)
        let start = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("Subject:") })
        XCTAssertTrue(lines[start + 1].hasPrefix(" =?UTF-8?B?"), "folded continuation")
        var index = start
        repeat {
            XCTAssertLessThanOrEqual(lines[index].utf8.count, 76, lines[index])
            index += 1
        } while index < lines.count && lines[index].hasPrefix(" ")
        XCTAssertEqual(decodeEncodedWords(try XCTUnwrap(header("Subject", in: mail))), String(repeating: "ä", count: 150))
    }

    /// Found by fuzz/Targets/header_word.swift: a Character over 39 bytes gave an empty encoded
    /// word ("=?UTF-8?B??=") and then one longer than the line allows.
    func testSubjectWithAHugeCharacterStaysWithinTheLineLength() throws {
        let huge = "a" + String(repeating: "\u{301}", count: 40)
        config.mailSubject = huge + " {user}"
        let mail = try compose(context())
        let lines = headerLines(mail)
        let start = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("Subject:") })
        var index = start
        repeat {
            XCTAssertLessThanOrEqual(lines[index].utf8.count, 76, lines[index])
            XCTAssertFalse(lines[index].contains("=?UTF-8?B??="), "empty encoded word")
            index += 1
        } while index < lines.count && lines[index].hasPrefix(" ")
        XCTAssertEqual(decodeEncodedWords(try XCTUnwrap(header("Subject", in: mail))), huge + " alice")
    }

    func testALongASCIISubjectIsFoldedUnderTheHeaderLineLimit() throws {
        // 200 bytes of template repeating a 256-byte user name: far past RFC 5322's 998.
        config.mailSubject = String(repeating: "{user} ", count: 20)
        let user = String(repeating: "u", count: 256)
        var ctx = context()
        ctx.user = user
        let mail = try compose(ctx)
        let lines = headerLines(mail)
        let start = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("Subject:") })
        var index = start
        repeat {
            XCTAssertLessThanOrEqual(lines[index].utf8.count, 998)
            index += 1
        } while index < lines.count && lines[index].hasPrefix(" ")
        XCTAssertGreaterThan(index - start, 1, "folded over several lines")
        XCTAssertEqual(decodeEncodedWords(try XCTUnwrap(header("Subject", in: mail))),
                       String(repeating: user + " ", count: 20))
    }

    func testTransactionIDAndCodeMustBeDigits() {
        // Found by fuzz/Targets/mail_composer.swift: the transaction id goes into two headers.
        for (id, code) in [("1234567890123456789\u{FFFD}", "482915"), ("12345678901234567890\r\nBcc: x@y.z", "482915"),
                           ("1234567890123456789", "482915"), ("12345678901234567890", "48291\n")] {
            var ctx = context()
            ctx.transactionID = id
            ctx.code = code
            XCTAssertThrowsError(try compose(ctx), id.debugDescription)
        }
    }

    func testTheCodeIsNeverInTheSubject() throws {
        config.mailSubject = "Code {otp} for {user}"
        let mail = try compose(context())
        let subject = try XCTUnwrap(header("Subject", in: mail))
        XCTAssertFalse(subject.contains("482915"), subject)
        for line in headerLines(mail) { XCTAssertFalse(line.contains("482915"), line) }
    }

    func testNoHTMLPartWithoutHTMLTemplate() throws {
        let mail = try compose(context())
        XCTAssertNil(part("text/html", in: mail))
        XCTAssertFalse(mail.text.contains("text/html"))
        XCTAssertEqual(mail.text.components(separatedByString: "--=_emailotp_").count - 1, 2, "one part and the end")
    }

    func testHTMLPartWithHTMLTemplateEscapesValues() throws {
        config.htmlTemplate = "<p>Hello {user},</p><p>code <b>{otp}</b> for {service}</p>"
        let mail = try compose(context(user: "a<b>&\"c'", service: "<script>"))
        let html = try XCTUnwrap(part("text/html; charset=utf-8", in: mail))
        XCTAssertTrue(html.contains("<p>Hello a&lt;b&gt;&amp;&quot;c&#39;,</p>"), html)
        XCTAssertTrue(html.contains("<b>482915</b>"))
        XCTAssertTrue(html.contains("for &lt;script&gt;</p>"))
        XCTAssertFalse(html.contains("<script>"))
        let text = try XCTUnwrap(part("text/plain; charset=utf-8", in: mail))
        XCTAssertTrue(text.contains("Hello a<b>&\"c',"), "the text part is not HTML-escaped")
    }

    func testCustomTextTemplate() throws {
        config.textTemplate = "Code: {otp}\nUser: {user}\nValid {validity} min\nUnknown {nothing} stays\n"
        let mail = try compose(context())
        let text = try XCTUnwrap(part("text/plain; charset=utf-8", in: mail))
        XCTAssertTrue(text.hasPrefix("Code: 482915\nUser: alice\nValid 5 min\nUnknown {nothing} stays"), text)
    }

    func testQuotedPrintableKeepsTheCodeLineAndRoundTrips() throws {
        let long = String(repeating: "x", count: 200)
        let mail = try compose(context(user: "jürgen=\(long)"))
        XCTAssertEqual(code(in: mail), "482915")
        let bodyLines = mail.text.split(separator: "\n", omittingEmptySubsequences: false).drop { !$0.isEmpty }
        for line in bodyLines where !line.hasPrefix("Content-Type:") {
            XCTAssertLessThanOrEqual(line.utf8.count, 76, String(line))
        }
        let text = try XCTUnwrap(part("text/plain; charset=utf-8", in: mail))
        XCTAssertTrue(text.contains("Hello jürgen=\(long),"))
        XCTAssertTrue(mail.text.utf8.allSatisfy { $0 < 0x80 }, "the message is 7-bit")
    }

    func testQuotedPrintableEncoding() {
        XCTAssertEqual(MIMEEncoding.quotedPrintable("a=b"), "a=3Db\n")
        XCTAssertEqual(MIMEEncoding.quotedPrintable("ü"), "=C3=BC\n")
        XCTAssertEqual(MIMEEncoding.quotedPrintable("    123456"), "    123456\n")
        XCTAssertEqual(MIMEEncoding.quotedPrintable("trailing "), "trailing=20\n")
        XCTAssertEqual(MIMEEncoding.quotedPrintable(".\nx"), ".\nx\n")
        let long = String(repeating: "y", count: 100)
        XCTAssertEqual(decodeQuotedPrintable(MIMEEncoding.quotedPrintable(long)), long + "\n")
    }

    func testCRLFInTemplateBodyBecomesLF() throws {
        config.textTemplate = "line one\r\nline two {otp}\r\n"
        let mail = try compose(context())
        XCTAssertFalse(mail.text.contains("\r"))
        XCTAssertTrue(try XCTUnwrap(part("text/plain; charset=utf-8", in: mail)).hasPrefix("line one\nline two 482915"))
    }

    func testHostThatIsNotADomainIsNotPutInTheMessageID() throws {
        let mail = try compose(context(host: "weird host!"))
        XCTAssertTrue(header("Message-ID", in: mail)?.hasSuffix("@localhost>") ?? false)
    }

    func testSendTestMessage() throws {
        let mail = try MailComposer(config: config, random: SeededRandom()).composeTest(to: "admin@example.com", host: "h.example", date: date)
        XCTAssertEqual(header("To", in: mail), "admin@example.com")
        XCTAssertEqual(header("MIME-Version", in: mail), "1.0")
        XCTAssertNotNil(header("Date", in: mail))
        XCTAssertNotNil(header("Message-ID", in: mail))
        XCTAssertThrowsError(try MailComposer(config: config, random: SeededRandom())
            .composeTest(to: "admin@example.com\r\nBcc: x@y.z", host: "h", date: date))
    }
}

extension String {
    /// `self.components(separatedBy:)` without Foundation.
    func components(separatedByString separator: String) -> [Substring] {
        split(separator: separator, omittingEmptySubsequences: false)
    }
}
