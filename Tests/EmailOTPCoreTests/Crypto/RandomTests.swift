import XCTest
@testable import EmailOTPCrypto

/// Crypto/Random.swift: code digits (uniform, rejection sampling) and OpenSSL's bytes.
final class RandomTests: XCTestCase {
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
}
