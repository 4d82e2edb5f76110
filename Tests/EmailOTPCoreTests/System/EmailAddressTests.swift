import XCTest
@testable import EmailOTPSystem

/// System/EmailAddress.swift: what an address may be, and how it is shown.
final class EmailAddressTests: XCTestCase {
    func testAddressValidation() {
        for good in ["alice@example.com", "a.b+c@mail.example.org", "x@localhost", "o'neil@example.ie"] {
            XCTAssertTrue(EmailAddress.isValid(good), good)
        }
        for bad in ["", "alice", "@example.com", "alice@", "a@b@c", "a b@example.com", ".a@example.com", "a..b@example.com",
                    "a@-example.com", "a@example..com", "alice@example.com\n", "jürgen@example.com", "<a@example.com>"] {
            XCTAssertFalse(EmailAddress.isValid(bad), bad)
        }
    }

    func testMaskedAddresses() {
        XCTAssertEqual(EmailAddress.masked("alice@example.com"), "a***@e******.com")
        XCTAssertEqual(EmailAddress.masked("b@mail.example.org"), "b***@m***********.org")
        XCTAssertEqual(EmailAddress.masked("root@localhost"), "r***@l********")
        XCTAssertEqual(EmailAddress.masked("broken"), "***")
    }

    func testSeparatorsAreFoundAsBytes() {
        XCTAssertFalse(EmailAddress.isValid("a@\u{301}example.com"), "a mark after @ is no domain")
        XCTAssertFalse(EmailAddress.isValid(".\u{301}a@example.com"))
        XCTAssertEqual(EmailAddress.masked("a@b@c"), "a***@b**", "only the first @ separates")
    }
}
