import XCTest
@testable import EmailOTPCrypto
@testable import EmailOTPToken

/// Crypto/CodeHasher.swift: the stored form of a code.
final class CodeHasherTests: XCTestCase {
    func testCodeHashIsKeyedAndBoundToTransactionAndUser() throws {
        let hasher = CodeHasher(key: Array(repeating: 7, count: 32))
        let id = "12345678901234567890"
        let hash = try hasher.hash(code: "123456", transactionID: id, user: "alice")
        XCTAssertEqual(hash.count, 64)
        XCTAssertFalse(hash.contains("123456"), "the code itself is never stored")
        XCTAssertEqual(hash, try hasher.hash(code: "123456", transactionID: id, user: "alice"))
        XCTAssertNotEqual(hash, try hasher.hash(code: "123457", transactionID: id, user: "alice"))
        XCTAssertNotEqual(hash, try hasher.hash(code: "123456", transactionID: "12345678901234567891", user: "alice"))
        XCTAssertNotEqual(hash, try hasher.hash(code: "123456", transactionID: id, user: "bob"))
        XCTAssertNotEqual(hash, try CodeHasher(key: Array(repeating: 8, count: 32)).hash(code: "123456", transactionID: id, user: "alice"))

        let challenge = Challenge(transactionID: id, codeHash: hash, created: 0, expires: 300, triesLeft: 3)
        XCTAssertTrue(hasher.matches(code: "123456", transactionID: challenge.transactionID, user: "alice", storedHash: challenge.codeHash))
        XCTAssertFalse(hasher.matches(code: "123457", transactionID: challenge.transactionID, user: "alice", storedHash: challenge.codeHash))
        XCTAssertFalse(hasher.matches(code: "123456", transactionID: challenge.transactionID, user: "bob", storedHash: challenge.codeHash))
        XCTAssertFalse(hasher.matches(code: "", transactionID: challenge.transactionID, user: "alice", storedHash: challenge.codeHash))
    }
}
