import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPMail
@testable import EmailOTPToken

final class AddressCommandTests: XCTestCase {
    func output(_ text: String) throws -> String {
        try AddressCommand.address(fromOutput: Array(text.utf8), program: "/x")
    }

    func testOneLineIsTheAddress() throws {
        XCTAssertEqual(try output("alice@example.org\n"), "alice@example.org")
        XCTAssertEqual(try output("alice@example.org"), "alice@example.org")
    }

    func testLyingOutputIsRefused() {
        for bad in ["", "\n", "a@b.org\nc@d.org\n", "a@b.org\r\n", "a@b.org\n\n", "not an address\n",
                    "Alice <a@b.org>\n", " a@b.org\n", "a@b.org\u{0}\n"] {
            XCTAssertThrowsError(try output(bad), bad.debugDescription) { XCTAssertTrue($0 is AddressCommandError) }
        }
        XCTAssertThrowsError(try AddressCommand.address(fromOutput: [0x61, 0xFF, 0x40, 0x62, 0x2E, 0x6F], program: "/x"))
    }

    func testUntrustedProgramIsRefused() {
        XCTAssertThrowsError(try AddressCommand.trustedProgram("relative/path"))
        XCTAssertThrowsError(try AddressCommand.trustedProgram("/nonexistent/program"))
        // /tmp is writable by everyone: nothing under it is trusted.
        XCTAssertThrowsError(try AddressCommand.trustedProgram("/tmp"))
    }

    func testUnsetCommandGivesNoAddress() {
        XCTAssertThrowsError(try AddressCommand(config: Config()).address(for: "alice")) {
            XCTAssertEqual(($0 as? AddressCommandError)?.reason, "the token has no address and address_command is not set")
        }
    }

    func testConfigDefaults() {
        let config = Config()
        XCTAssertEqual(config.addressCommand, "")
        XCTAssertEqual(config.addressCommandUser, "emailotp-lookup", "a dedicated account, not the shared nobody")
        XCTAssertEqual(config.addressCommandTimeout, 5)
    }

    func testConfigCheckWarnsAboutNobodyAndAMissingAccount() {
        var config = Config()
        XCTAssertNil(AddressCommand.accountWarning(config), "nothing to say without address_command")
        config.addressCommand = "/usr/local/libexec/emailotp-address"
        config.addressCommandUser = "nobody"
        XCTAssertEqual(AddressCommand.accountWarning(config)?.problem, false)
        XCTAssertTrue(AddressCommand.accountWarning(config)?.message.contains("nobody") == true)
        config.addressCommandUser = "no-such-account-here"
        XCTAssertEqual(AddressCommand.accountWarning(config)?.problem, true)
        config.addressCommandUser = "root"
        XCTAssertNil(AddressCommand.accountWarning(config))
    }

    func testRecordWithoutAddressRoundTrips() throws {
        let record = TokenRecord(user: "bob", email: "", pinHash: nil)
        let text = RecordFormat.render(record)
        XCTAssertTrue(text.contains("\nemail -\n"))
        XCTAssertEqual(try RecordFormat.parse(text, expectedUser: "bob"), record)
        XCTAssertThrowsError(try RecordFormat.parse(text.replacingOccurrences(of: "email -", with: "email "), expectedUser: "bob"))
    }
}
