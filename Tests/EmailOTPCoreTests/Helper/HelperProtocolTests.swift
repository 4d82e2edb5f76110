import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPFlows
@testable import EmailOTPHelper

/// What the module hands the setuid helper, and what the helper accepts.
final class HelperProtocolTests: XCTestCase {
    func testARequestRoundTrips() throws {
        let request = HelperProtocol.Request(user: "alice", service: "nginx", rhost: "192.0.2.7", password: "pïn 123456")
        XCTAssertEqual(try HelperProtocol.decode(HelperProtocol.encode(request)), request)
        let empty = HelperProtocol.Request(user: "bob", service: "", rhost: "", password: "")
        XCTAssertEqual(try HelperProtocol.decode(HelperProtocol.encode(empty)), empty)
    }

    func testMalformedRequestsAreRefused() {
        let bad: [[UInt8]] = [
            [],
            Array("alice\u{0}svc\u{0}host\u{0}pw".utf8),                     // not NUL-terminated
            Array("alice\u{0}svc\u{0}pw\u{0}".utf8),                          // three fields
            Array("alice\u{0}svc\u{0}host\u{0}pw\u{0}more\u{0}".utf8),        // five fields
            Array("alice\u{0}sv\nc\u{0}host\u{0}pw\u{0}".utf8),               // control character in the service
            Array("alice\u{0}svc\u{0}ho\rst\u{0}pw\u{0}".utf8),               // ... in the remote host
            Array("alice\u{0}".utf8) + [0xFF, 0xFE, 0] + Array("h\u{0}pw\u{0}".utf8),   // not UTF-8
            Array("alice\u{0}svc\u{0}host\u{0}".utf8) + Array(repeating: 0x61, count: 4097) + [0],
            Array("alice\u{0}".utf8) + Array(repeating: 0x61, count: 257) + Array("\u{0}h\u{0}pw\u{0}".utf8),
        ]
        for bytes in bad {
            XCTAssertThrowsError(try HelperProtocol.decode(bytes), "\(bytes.prefix(40))")
        }
    }

    func testEveryResultSurvivesTheExitStatusAndUnknownOnesFailClosed() {
        for result in [AuthResult.success, .authError, .userUnknown, .ignore, .unavailable, .serviceError, .conversationError] {
            XCTAssertEqual(HelperProtocol.result(ofStatus: HelperProtocol.status(of: result)), result)
        }
        for status: Int32 in [5, 7, 64, 127, 255, -1] {
            XCTAssertEqual(HelperProtocol.result(ofStatus: status), .serviceError)
        }
    }

    func testMessageLines() {
        XCTAssertEqual(HelperProtocol.messageLine("", isInfo: true), "")
        let info = HelperProtocol.messageLine("A code was sent.", isInfo: true)
        XCTAssertEqual(HelperProtocol.parseMessage(Array(info.utf8))?.text, "A code was sent.")
        XCTAssertEqual(HelperProtocol.parseMessage(Array(info.utf8))?.isInfo, true)
        let error = HelperProtocol.messageLine("Wrong code.", isInfo: false)
        XCTAssertEqual(HelperProtocol.parseMessage(Array(error.utf8))?.isInfo, false)
        XCTAssertNil(HelperProtocol.parseMessage(Array("warn x\n".utf8)))
        XCTAssertNil(HelperProtocol.parseMessage(Array("info a\nerror b\n".utf8)), "one line only")
        XCTAssertNil(HelperProtocol.parseMessage(Array("info a\u{1B}[2J".utf8)), "no terminal escapes")
    }

    func testHelperArgumentIsAnAbsolutePath() throws {
        XCTAssertEqual(try ModuleOptions(arguments: []).helperPath, "/usr/local/libexec/emailotp-helper")
        XCTAssertEqual(try ModuleOptions(arguments: ["helper=/opt/h"]).helperPath, "/opt/h")
        XCTAssertThrowsError(try ModuleOptions(arguments: ["helper=relative/h"]))
        XCTAssertThrowsError(try ModuleOptions(arguments: ["helper="]))
    }

    func testHelperGroupNames() throws {
        var config = Config()
        try ConfigKeys.apply("helper_group", "emailotp-web", to: &config)
        XCTAssertEqual(config.helperGroup, "emailotp-web")
        try ConfigKeys.apply("helper_group", "", to: &config)
        XCTAssertEqual(config.helperGroup, "")
        for bad in ["Web", "-web", "a b", "web\n", String(repeating: "a", count: 33), "wé"] {
            XCTAssertThrowsError(try ConfigKeys.apply("helper_group", bad, to: &config), bad)
        }
        for (key, good, bad) in [("auth_cache", "86400", "86401"), ("fail_delay", "30", "31")] {
            XCTAssertNoThrow(try ConfigKeys.apply(key, good, to: &config))
            XCTAssertThrowsError(try ConfigKeys.apply(key, bad, to: &config))
            XCTAssertThrowsError(try ConfigKeys.apply(key, "-1", to: &config))
        }
    }
}
