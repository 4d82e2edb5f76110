import XCTest
@testable import EmailOTPAdmin
@testable import EmailOTPConfig
@testable import EmailOTPMail
@testable import EmailOTPSystem

/// ByteText and the String helpers on it: every split is at a byte, never at a Character.
final class TextTests: XCTestCase {
    func testSplitCutsAtTheByteEvenBeforeACombiningMark() {
        // " \u{34B}" is one Character that is not " ".
        XCTAssertEqual(ByteText.split("a \u{34B}b c", at: ByteText.space), ["a", "\u{34B}b", "c"])
        XCTAssertEqual(ByteText.split("a  b", at: ByteText.space), ["a", "", "b"], "empty pieces are kept")
        XCTAssertEqual(ByteText.split("k=v=w", at: 0x3D, maxSplits: 1), ["k", "v=w"])
        XCTAssertEqual(ByteText.split("", at: ByteText.space), [""])
    }

    func testLinesSplitAtLFAndDropOneCR() {
        XCTAssertEqual(ByteText.lines("a\r\nb\nc"), ["a\r", "b", "c"])
        XCTAssertEqual(ByteText.lines("a\r\nb\n", droppingCR: true), ["a", "b", ""])
        XCTAssertEqual(ByteText.lines("a\r\r\n", droppingCR: true), ["a\r", ""], "only one CR belongs to the line end")
        XCTAssertEqual(ByteText.lines("a\rb", droppingCR: true), ["a\rb"], "a lone CR is no line end")
    }

    func testTrimmingRemovesBlankBytesOnly() {
        XCTAssertEqual(ByteText.trimmingBlanks(" \t x y \t"), "x y")
        XCTAssertEqual(ByteText.trimmingBlanks(" \u{34B}x"), "\u{34B}x", "the space goes, the mark stays")
        XCTAssertEqual(ByteText.trimmingBlanks("\u{A0}x"), "\u{A0}x", "no-break space is not a blank")
        XCTAssertEqual(" \u{301}v ".trimmedBlanks, "\u{301}v")
    }

    func testUnquotedNeedsBothQuoteBytes() {
        XCTAssertEqual(ByteText.unquoted("\"x\""), "x")
        XCTAssertEqual(ByteText.unquoted("\"\u{301}x\u{301}\""), "\u{301}x\u{301}", "marks after a quote do not hide it")
        XCTAssertEqual(ByteText.unquoted("\""), "\"")
        XCTAssertEqual(ByteText.unquoted("\"x"), "\"x")
        XCTAssertEqual(ByteText.unquoted("\"\""), "")
    }

    func testComparisonIsByteForByte() {
        XCTAssertTrue("\u{212A}" == "K", "Swift's == is canonical equivalence")
        XCTAssertFalse(ByteText.same("\u{212A}", "K"))
        XCTAssertFalse(ByteText.isOne("loc\u{212A}ed", of: ["locKed"]))
        XCTAssertTrue(ByteText.hasPrefix("/\u{301}x", "/"))
        XCTAssertTrue(ByteText.contains("a \u{34B}", byte: ByteText.space))
    }

    func testDroppingSuffixStopsAtOtherBytes() {
        XCTAssertEqual(ByteText.droppingSuffix("pw\r\n\n", bytes: [0x0A, 0x0D]), "pw")
        XCTAssertEqual(ByteText.droppingSuffix("pw\n\u{301}", bytes: [0x0A]), "pw\n\u{301}")
        XCTAssertEqual(ByteText.droppingSuffix("x\n\n", bytes: [0x0A], max: 1), "x\n")
    }

    func testControlScalars() {
        for value: UInt32 in [0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x7F, 0x80, 0x9F] {
            XCTAssertTrue(ByteText.isControl(Unicode.Scalar(value)!), "U+\(String(value, radix: 16))")
        }
        for value: UInt32 in [0x20, 0x7E, 0xA0, 0x34B, 0x2028] {
            XCTAssertFalse(ByteText.isControl(Unicode.Scalar(value)!), "U+\(String(value, radix: 16))")
        }
        XCTAssertTrue("a\u{85}b".hasControlCharacters)
        XCTAssertFalse("café".hasControlCharacters)
    }

    func testScalarStartsAndDecoding() {
        let bytes = Array("é日".utf8)
        XCTAssertEqual(bytes.map(ByteText.startsScalar), [true, false, true, false, false])
        XCTAssertEqual(ByteText.decode(bytes), "é日")
        XCTAssertNil(ByteText.decode([0x61, 0x94]), "invalid UTF-8 is refused, not repaired")
        XCTAssertNil(ByteText.decode([0xC3]), "a cut scalar is refused")
        XCTAssertEqual(ByteText.decode([UInt8]()), "")
    }

    func testPlaceholdersAreFoundAsBytes() {
        XCTAssertEqual("{a}-{b}-{c".expandingPlaceholders(["a": "1", "b": "2"]), "1-2-{c")
        XCTAssertEqual("{a}\u{301}".expandingPlaceholders(["a": "1"]), "1\u{301}", "a mark after } does not hide it")
        XCTAssertEqual("{{a}}".expandingPlaceholders(["a": "1"]), "{1}")
        XCTAssertEqual("{a}".expandingPlaceholders(["a": "{a}"]), "{a}", "values are not expanded again")
    }

    func testIntegersAndDigits() {
        XCTAssertEqual(parseInteger("-5", in: -10...10), -5)
        XCTAssertNil(parseInteger("+5", in: -10...10))
        XCTAssertNil(parseInteger("99999999999999999999", in: 0...Int64.max))
        XCTAssertNil(parseInteger("٣", in: 0...10), "Arabic-Indic digits are no number here")
        XCTAssertTrue("0123".isASCIIDigits)
        XCTAssertFalse("".isASCIIDigits)
    }

    func testHTMLEscapingFindsMarkupBehindCombiningMarks() {
        // "<\u{301}" is one Character that is not "<": escaped by Characters, it stayed markup.
        XCTAssertEqual(MIMEEncoding.htmlEscaped("<\u{301}script>&'\""), "&lt;\u{301}script&gt;&amp;&#39;&quot;")
    }

    func testLineEndsBecomeLF() {
        XCTAssertEqual("a\r\nb\rc\n".replacingCRLF(), "a\nb\nc\n")
        XCTAssertEqual("a\r\u{301}".replacingCRLF(), "a\n\u{301}")
    }

    func testHex() {
        XCTAssertEqual(Hex.encode([0, 0x0f, 0xab, 0xff]), "000fabff")
        XCTAssertEqual(Hex.decode("000fabff"), [0, 0x0f, 0xab, 0xff])
        XCTAssertEqual(Hex.decode("ABFF"), [0xab, 0xff])
        XCTAssertNil(Hex.decode("abc"))
        XCTAssertNil(Hex.decode("zz"))
    }

    func testWordsSuffixesCaseAndSubstringsAreBytes() {
        XCTAssertEqual(ByteText.words(" auth \t required  pam_unix.so "), ["auth", "required", "pam_unix.so"])
        XCTAssertEqual(ByteText.words("a \u{34B}b"), ["a", "\u{34B}b"])
        XCTAssertTrue(ByteText.hasSuffix("line\\", "\\"))
        XCTAssertTrue(ByteText.hasSuffix("x\\\u{301}", "\u{301}"))
        XCTAssertFalse(ByteText.hasSuffix("a", "ba"))
        XCTAssertEqual(ByteText.asciiLowercased("KbdInteractive\u{212A}"), "kbdinteractive\u{212A}", "only ASCII letters fold")
        XCTAssertTrue(ByteText.contains("alice ALL=(ALL) NOPASSWD: ALL", "NOPASSWD:"))
        XCTAssertFalse(ByteText.contains("NOPASSWD", "NOPASSWD:"))
        XCTAssertEqual(ByteText.droppingASCIIPrefix("-auth"), "auth")
        XCTAssertEqual(ByteText.droppingASCIISuffix("a\\"), "a")
        XCTAssertEqual(ByteText.droppingASCIIPrefix("", 3), "")
    }

    /// A `"` followed by a combining mark is one Character that is not `"`: quoted by
    /// Characters, it ended the SQL identifier.
    func testSQLIdentifierQuotesAreDoubledAsBytes() {
        XCTAssertEqual(PostgresSchema.quoted("emailotp"), "\"emailotp\"")
        XCTAssertEqual(PostgresSchema.quoted("a\"\u{301}; DROP"), "\"a\"\"\u{301}; DROP\"")
    }

    func testOtherByteChecks() {
        XCTAssertEqual(parseInteger("-\u{301}5", in: -10...10), nil)
        XCTAssertEqual(parseInteger("-5", in: -10...10), -5)
        var config = Config()
        config.mailServer = "127.0.0.1"
        XCTAssertTrue(config.mailServerIsLoopback)
        config.mailServer = "LOCALHOST"
        XCTAssertTrue(config.mailServerIsLoopback)
    }
}
