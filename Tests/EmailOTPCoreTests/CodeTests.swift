import XCTest
@testable import EmailOTPCore

/// Code digits (uniform, rejection sampling), HMAC-SHA-256, constant-time comparison, code hashes.
final class CodeTests: XCTestCase {
    func testDigitsHaveTheAskedLengthAndAreDigits() throws {
        for length in [1, 6, 8, 10, 20] {
            for _ in 0..<20 {
                let code = try OpenSSLRandom().digits(length)
                XCTAssertEqual(code.utf8.count, length)
                XCTAssertTrue(code.isASCIIDigits)
            }
        }
    }

    func testDigitsRejectBytesFrom250Up() throws {
        // 250...255 would give 0...5 an extra chance (256 % 10 = 6): they are skipped.
        let random = ScriptedRandom([[250, 251, 252, 253, 254, 255, 7, 255, 3, 250, 9, 0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]])
        XCTAssertEqual(try random.digits(6), "739012")
    }

    func testDigitsAreUnbiasedOverAFullCycleOfBytes() throws {
        // Every byte value once: the accepted ones (0...249) give every digit exactly 25 times.
        let random = ScriptedRandom([Array(0...255) + Array(0...255)])
        let digits = try random.digits(250)
        var counts = [Character: Int]()
        for digit in digits { counts[digit, default: 0] += 1 }
        XCTAssertEqual(counts.count, 10)
        XCTAssertTrue(counts.values.allSatisfy { $0 == 25 }, "\(counts)")
    }

    func testDigitsGiveUpOnABrokenSourceInsteadOfLooping() {
        XCTAssertThrowsError(try ScriptedRandom([[255]]).digits(6)) { XCTAssertTrue($0 is RandomFailure) }
        XCTAssertThrowsError(try ScriptedRandom([[]]).digits(6))
    }

    func testOpenSSLRandomBytes() throws {
        let a = try OpenSSLRandom().bytes(32)
        let b = try OpenSSLRandom().bytes(32)
        XCTAssertEqual(a.count, 32)
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(try OpenSSLRandom().bytes(0), [])
    }

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

    func testHex() {
        XCTAssertEqual(Hex.encode([0, 0x0f, 0xab, 0xff]), "000fabff")
        XCTAssertEqual(Hex.decode("000fabff"), [0, 0x0f, 0xab, 0xff])
        XCTAssertEqual(Hex.decode("ABFF"), [0xab, 0xff])
        XCTAssertNil(Hex.decode("abc"))
        XCTAssertNil(Hex.decode("zz"))
    }
}
