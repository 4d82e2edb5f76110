import XCTest
@testable import EmailOTPSystem

/// The reversible user-name → file-name encoding.
final class UserNameTests: XCTestCase {
    func testEncodingTable() throws {
        let table: [(String, String)] = [
            ("alice", "alice"), ("Bob_smith-2", "Bob_smith-2"), ("a.b@example.com", "a.b@example.com"),
            (".x", "%2Ex"), ("@x", "%40x"), (".", "%2E"), ("..", "%2E."), ("../x", "%2E.%2Fx"),
            ("a/b", "a%2Fb"), ("%", "%25"), ("%41", "%2541"), ("a b", "a%20b"), ("DOMAIN\\user", "DOMAIN%5Cuser"),
            ("ü", "%C3%BC"), ("a:b", "a%3Ab"), ("*", "%2A"),
        ]
        for (name, file) in table {
            XCTAssertEqual(try UserName.encode(name), file, name)
            XCTAssertEqual(UserName.decode(file), name, file)
        }
    }

    func testRefusedNames() {
        let refused = ["", "a\nb", "a\rb", "\t", "a\0b", "\u{7F}", "\u{1B}[31m", String(repeating: "a", count: 257),
                       String(repeating: "/", count: 100), String(repeating: "é", count: 129)]
        for name in refused {
            XCTAssertThrowsError(try UserName.encode(name), "\(Array(name.utf8).prefix(10))") { error in
                XCTAssertTrue(error is BadUserName)
            }
        }
    }

    func testLengthLimits() throws {
        XCTAssertNoThrow(try UserName.validate(String(repeating: "a", count: 256)))
        XCTAssertEqual(UserName.maxEncodedBytes, 242)
        XCTAssertEqual(try UserName.encode(String(repeating: "a", count: 242)).count, 242)
        XCTAssertThrowsError(try UserName.validate(String(repeating: "a", count: 257)))
        // Valid as names but too long as a file name once the temporary file's ".tmp.<pid>"
        // is added (NAME_MAX 255): refused up front, not truncated.
        XCTAssertThrowsError(try UserName.encode(String(repeating: "a", count: 243)))
        XCTAssertThrowsError(try UserName.encode(String(repeating: "a", count: 256)))
        XCTAssertThrowsError(try UserName.encode(String(repeating: "%", count: 81)))
        XCTAssertEqual(try UserName.encode(String(repeating: "%", count: 80)).utf8.count, 240)
    }

    func testEveryPrintableByteRoundTripsAndStaysAFileName() throws {
        for byte in UInt8(0x20)...UInt8(0x7E) {
            let c = String(decoding: [byte], as: UTF8.self)
            for name in [c, "x\(c)", "\(c)\(c)", "\(c)x\(c)"] {
                let file = try UserName.encode(name)
                XCTAssertFalse(file.isEmpty)
                XCTAssertFalse(file.contains("/"), name)
                XCTAssertFalse(file.hasPrefix("."), name)
                XCTAssertNotEqual(file, ".")
                XCTAssertNotEqual(file, "..")
                XCTAssertEqual(UserName.decode(file), name, name)
            }
        }
    }

    func testDecodeRefusesNamesThatEncodeDidNotMake() {
        for file in ["", "%41", "%2e", "%2", "%G1", "%", ".x", "..", ".", "a/b", "a b", "%0A", "%00", "a%2", "%C3",
                     "%FF", String(repeating: "a", count: 300)] {
            XCTAssertNil(UserName.decode(file), file)
        }
    }

    func testNonASCIIRoundTrips() throws {
        for name in ["jürgen", "名前", "e\u{301}", "é", "😀", "a\u{85}b"] {
            let file = try UserName.encode(name)
            XCTAssertTrue(file.utf8.allSatisfy { $0 < 0x80 }, "file names are ASCII")
            let decoded = try XCTUnwrap(UserName.decode(file))
            XCTAssertEqual(Array(decoded.utf8), Array(name.utf8), "byte-exact, not just canonically equal")
        }
        XCTAssertNotEqual(try UserName.encode("é"), try UserName.encode("e\u{301}"))
    }
}
