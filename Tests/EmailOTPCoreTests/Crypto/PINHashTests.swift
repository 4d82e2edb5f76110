import XCTest
@testable import EmailOTPCrypto

/// PIN hashes: crypt(3) yescrypt, salted, verified in constant time.
final class PINHashTests: XCTestCase {
    func testMakeAndVerify() throws {
        let hash = try PINHash.make("correct PIN", random: OpenSSLRandom())
        XCTAssertTrue(hash.hasPrefix("$y$"), hash)
        XCTAssertFalse(hash.contains("correct PIN"))
        XCTAssertFalse(hash.contains(" "), "a hash fits the one-word record field")
        XCTAssertTrue(PINHash.verify("correct PIN", hash: hash))
        XCTAssertFalse(PINHash.verify("correct pin", hash: hash))
        XCTAssertFalse(PINHash.verify("correct PIN ", hash: hash))
        XCTAssertFalse(PINHash.verify("", hash: hash))
    }

    func testHashesAreSalted() throws {
        let a = try PINHash.make("1234", random: OpenSSLRandom())
        let b = try PINHash.make("1234", random: OpenSSLRandom())
        XCTAssertNotEqual(a, b)
        XCTAssertTrue(PINHash.verify("1234", hash: a))
        XCTAssertTrue(PINHash.verify("1234", hash: b))
    }

    func testVerifyAgainstBrokenHashesFails() {
        for hash in ["", "*", "*0", "!", "$y$", "$1$abc", "plain", "$6$salt$"] {
            XCTAssertFalse(PINHash.verify("", hash: hash), hash)
            XCTAssertFalse(PINHash.verify("1234", hash: hash), hash)
        }
    }

    func testSHA512CryptHashesAreAccepted() throws {
        // crypt(3) hashes made elsewhere (e.g. mkpasswd -m sha-512) verify too.
        let hash = try PINHash.crypt("1234", setting: "$6$saltsalt$")
        XCTAssertTrue(hash.hasPrefix("$6$saltsalt$"))
        XCTAssertTrue(PINHash.verify("1234", hash: hash))
        XCTAssertFalse(PINHash.verify("12345", hash: hash))
    }

    func testTheDummyHashIsAValidYescryptSetting() throws {
        // An unknown user must cost a real hash computation, not a fast failure.
        let dummy = "$y$j9T$Hf1pK6qJfJ3nQx8iYz4Ku1$0Ik1JK3vXSxRzDgDWQm8pZ0Wq1T6PnE4u6iGmDZ9yM1"
        let computed = try PINHash.crypt("anything", setting: dummy)
        XCTAssertTrue(computed.hasPrefix("$y$j9T$"), computed)
        PINHash.dummyVerify("anything")
    }

    func testValidate() {
        XCTAssertNil(PINHash.validate("1234"))
        XCTAssertNil(PINHash.validate("a long pass phrase"))
        XCTAssertNil(PINHash.validate(String(repeating: "x", count: 128)))
        XCTAssertNotNil(PINHash.validate("123"))
        XCTAssertNotNil(PINHash.validate(""))
        XCTAssertNotNil(PINHash.validate(String(repeating: "x", count: 129)))
        XCTAssertNotNil(PINHash.validate("12\n34"))
        XCTAssertNotNil(PINHash.validate("12\u{7F}34"))
    }

    func testNonASCIIPIN() throws {
        let hash = try PINHash.make("pässwörd", random: OpenSSLRandom())
        XCTAssertTrue(PINHash.verify("pässwörd", hash: hash))
        XCTAssertFalse(PINHash.verify("passwort", hash: hash))
    }
}
