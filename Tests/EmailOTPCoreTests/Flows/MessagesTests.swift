import XCTest
@testable import EmailOTPFlows
import EmailOTPSystem

/// Flows/Messages.swift: the texts a user sees (docs/DESIGN.md lists them).
final class MessagesTests: XCTestCase {
    func testMessages() {
        XCTAssertEqual(Messages.sent("a***@e******.com", validity: 300), "A code was sent to a***@e******.com. It is valid for 5 minutes.")
        XCTAssertEqual(Messages.wrongCode(triesLeft: 2), "Wrong code. 2 tries left.")
        XCTAssertEqual(Messages.wrongCode(triesLeft: 1), "Wrong code. 1 try left.")
        XCTAssertEqual(Messages.expired, "The code has expired.")
    }

    func testChallengeModeTextsSayHowToFinish() {
        XCTAssertEqual(Messages.challengeSent("a***@e******.com", validity: 300, transactionID: "12345678901234567890", withPIN: true),
                       "A code was sent to a***@e******.com, valid for 5 minutes. Transaction id: 12345678901234567890. "
                       + "Log in again with your PIN followed by the code.")
        XCTAssertTrue(Messages.challengeReused("x", interval: 30, transactionID: "1", withPIN: false).hasSuffix("Log in again with that code."))
        XCTAssertEqual(Messages.reused("x", interval: 30), "A code was already sent to x less than 30 seconds ago. Enter that code.")
    }

    func testTheCodePromptTakesTheAddressAndTheValidity() {
        XCTAssertEqual(Messages.codePrompt(Messages.quietCodePrompt, address: "b***@e***.org", validity: 300),
                       "Code sent to b***@e***.org (valid 5 min): ")
        XCTAssertEqual(Messages.codePrompt("Email code: ", address: "x", validity: 300), "Email code: ")
        XCTAssertEqual(Messages.codePrompt("{validity} left, {other}: ", address: "x", validity: 90), "1 min 30 s left, {other}: ")
        XCTAssertTrue(Messages.namesAddress("Code for {address}: "))
        XCTAssertFalse(Messages.namesAddress("Code ({validity}): "))
        XCTAssertEqual(TimeFormat.short(45), "45 s")
        XCTAssertEqual(TimeFormat.short(600), "10 min")
        XCTAssertEqual(Messages.triesLeft(1), "1 try left")
        XCTAssertEqual(Messages.triesLeft(0), "0 tries left")
    }
}
