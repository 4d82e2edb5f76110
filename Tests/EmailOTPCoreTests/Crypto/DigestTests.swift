import XCTest
@testable import EmailOTPCrypto
@testable import EmailOTPSystem

/// Crypto/Digest.swift: HMAC-SHA-256 and constant-time comparison.
final class DigestTests: XCTestCase {
    func testHMACSHA256KnownAnswers() throws {
        // RFC 4231, test cases 1, 2 and 6 (a key longer than the block).
        XCTAssertEqual(Hex.encode(try Digest.hmacSHA256(key: Array(repeating: 0x0b, count: 20), message: Array("Hi There".utf8))),
                       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        XCTAssertEqual(Hex.encode(try Digest.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        XCTAssertEqual(Hex.encode(try Digest.hmacSHA256(key: Array(repeating: 0xaa, count: 131),
                                                        message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))),
                       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    func testHMACOfEmptyMessage() throws {
        XCTAssertEqual(try Digest.hmacSHA256(key: [1, 2, 3], message: []).count, 32)
    }

    func testConstantTimeEqual() {
        XCTAssertTrue(Digest.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(Digest.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(Digest.constantTimeEqual([0, 2, 3], [1, 2, 3]))
        XCTAssertFalse(Digest.constantTimeEqual([1, 2, 3], [1, 2]))
        XCTAssertFalse(Digest.constantTimeEqual([], [0]))
        XCTAssertTrue(Digest.constantTimeEqual([], []))
    }
}
