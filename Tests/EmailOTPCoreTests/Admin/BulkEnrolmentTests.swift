import XCTest
@testable import EmailOTPAdmin
@testable import EmailOTPConfig
@testable import EmailOTPStore
@testable import EmailOTPToken

/// `emailotp enroll --pending` and `--from FILE`: the list's format, and the rules of each
/// user's enrolment (pending or active, never over an existing token).
final class BulkEnrolmentTests: FlowTestCase {
    var admin: TokenAdmin { TokenAdmin(store: store, config: config) }

    func testParseSkipsCommentsAndBlankLinesAndKeepsLineNumbers() throws {
        let text = "# staff\n\nalice alice@example.com\n  bob\tbob@example.org  \r\n# end\n"
        XCTAssertEqual(try BulkEnrolment.parse(text, fromCommand: false),
                       [BulkEntry(line: 3, user: "alice", email: "alice@example.com"),
                        BulkEntry(line: 4, user: "bob", email: "bob@example.org")])
        XCTAssertEqual(try BulkEnrolment.parse("alice\n#x\nbob\n", fromCommand: true).map(\.user), ["alice", "bob"])
    }

    func testABadLineIsNamedByItsNumber() {
        let cases: [(String, Bool, Int, String)] = [
            ("alice alice@example.com\nbob not-an-address\n", false, 2, "not a plain mail address"),
            ("alice alice@example.com\n\nbob\n", false, 3, "expected a user name and an address"),
            ("alice a@example.com extra\n", false, 1, "expected a user name and an address"),
            ("alice a@example.com\n", true, 1, "expected a user name alone"),
            ("alice a@example.com\nalice b@example.com\n", false, 2, "named on line 1 already"),
            ("al\u{7}ice a@example.com\n", false, 1, "control characters"),
        ]
        for (text, fromCommand, line, reason) in cases {
            XCTAssertThrowsError(try BulkEnrolment.parse(text, fromCommand: fromCommand), text) { error in
                let bad = error as? BulkLineError
                XCTAssertEqual(bad?.line, line, text)
                XCTAssertTrue(bad?.reason.contains(reason) ?? false, "\(text): \(String(describing: bad))")
            }
        }
    }

    func testBulkEnrolmentIsIdempotentAndNeverOverwrites() throws {
        let entries = try BulkEnrolment.parse("alice alice@example.com\nbob bob@example.com\n", fromCommand: false)
        XCTAssertEqual(try entries.map { try admin.enroll($0, pending: true) }, [.enrolled, .enrolled])
        let before = try store.read(user: "alice")
        XCTAssertEqual(before?.pending, true)
        XCTAssertEqual(try entries.map { try admin.enroll($0, pending: true) }, [.unchanged, .unchanged], "a re-run changes nothing")
        XCTAssertEqual(try store.read(user: "alice"), before)
        let moved = BulkEntry(line: 1, user: "alice", email: "elsewhere@example.com")
        XCTAssertEqual(try admin.enroll(moved, pending: true), .conflict)
        XCTAssertEqual(try store.read(user: "alice")?.email, "alice@example.com", "another address never replaces a token's")
    }

    func testNoPinEnrolsActiveTokensWithoutAPIN() throws {
        XCTAssertEqual(try admin.enroll(BulkEntry(line: 1, user: "carol", email: ""), pending: false), .enrolled)
        let r = try XCTUnwrap(try store.read(user: "carol"))
        XCTAssertTrue(r.enabled && !r.pending)
        XCTAssertNil(r.pinHash)
        XCTAssertEqual(r.email, "")
    }

    func testPendingIsNotEnabledByEnableAndDisableEndsIt() throws {
        try admin.enroll(user: "dave", email: "dave@example.com", pinHash: nil, pending: true)
        XCTAssertThrowsError(try admin.enable(user: "dave")) { XCTAssertEqual($0 as? TokenAdminError, .pending("dave")) }
        XCTAssertEqual(try store.read(user: "dave")?.stateName, "pending")
        try admin.disable(user: "dave")
        XCTAssertEqual(try store.read(user: "dave")?.stateName, "disabled")
    }

    func testPendingRecordFormat() throws {
        let record = TokenRecord.pending(user: "erin", email: "")
        let text = RecordFormat.render(record)
        XCTAssertTrue(text.contains("\nstate pending\n"), text)
        XCTAssertTrue(text.contains("\nemail -\n"))
        XCTAssertEqual(try RecordFormat.parse(text, expectedUser: "erin"), record)
        // A pending record never carries a PIN: such a file is refused, not half-trusted.
        let withPIN = text.split(separator: "\n").map { $0 == "pin -" ? "pin $y$j9T$abc$def" : String($0) }.joined(separator: "\n") + "\n"
        XCTAssertThrowsError(try RecordFormat.parse(withPIN, expectedUser: "erin"))
    }
}
