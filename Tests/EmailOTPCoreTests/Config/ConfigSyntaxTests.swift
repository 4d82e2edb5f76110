import XCTest
@testable import EmailOTPConfig

/// `ConfigLoader.parse`, table-driven: each file text and the entries it gives, or the refusal.
final class ConfigSyntaxTests: XCTestCase {
    /// text → the (key, value) entries, or nil when the text is refused.
    let table: [(text: String, entries: [(String, String)]?)] = [
        ("mail_server = a\n", [("mail_server", "a")]),
        ("  mail_server\t=\tsmtp.example.org  \n", [("mail_server", "smtp.example.org")]),
        ("# comment\n\n   \nmail_port = 25", [("mail_port", "25")]),
        ("pin_prompt = \"PIN: \"\n", [("pin_prompt", "PIN: ")]),
        ("pin_prompt = \"\"\n", [("pin_prompt", "")]),
        ("pin_prompt = \"\n", [("pin_prompt", "\"")]),
        ("pin_prompt = \"\u{301}x\u{301}\"\n", [("pin_prompt", "\u{301}x\u{301}")]),
        ("mail_subject = a = b\n", [("mail_subject", "a = b")]),
        ("mail_server = a\r\nmail_port = 25\r\n", [("mail_server", "a"), ("mail_port", "25")]),
        ("mail_server = a\rmail_port = 25\n", [("mail_server", "a\rmail_port = 25")]),
        ("mail_subject = \u{A0}x\n", [("mail_subject", "\u{A0}x")]),
        ("mail_server a\n", nil),
        ("mail_serv = a\n", nil),
        ("mail_server = a\nmail_server = b\n", nil),
        ("mail_\u{212A}ey = a\n", nil),
        (" \u{34B}mail_server = a\n", nil),
    ]

    func testTable() {
        for (text, expected) in table {
            let parsed = try? ConfigLoader.parse(text, source: "t.conf")
            guard let entries = expected else {
                XCTAssertNil(parsed, text.debugDescription)
                continue
            }
            guard let got = parsed else {
                XCTFail("refused: \(text.debugDescription)")
                continue
            }
            XCTAssertEqual(got.map(\.key), entries.map(\.0), text.debugDescription)
            XCTAssertEqual(got.map { Array($0.value.utf8) }, entries.map { Array($0.1.utf8) }, text.debugDescription)
        }
    }
}
