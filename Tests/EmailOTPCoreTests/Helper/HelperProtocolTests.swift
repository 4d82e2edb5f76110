import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPFlows
@testable import EmailOTPHelper
@testable import EmailOTPSystem

/// What the module hands the setuid helper, and what the helper accepts.
final class HelperProtocolTests: XCTestCase {
    func request(_ user: String = "alice", service: String = "nginx", rhost: String = "192.0.2.7",
                 authtok: String? = "pïn 123456") -> HelperProtocol.Request {
        HelperProtocol.Request(user: user, service: service, rhost: rhost, authtok: authtok, callerUID: 33, program: "/usr/sbin/nginx")
    }

    func roundTrip(_ frame: HelperProtocol.Frame) throws -> HelperProtocol.Frame {
        let bytes = HelperProtocol.encode(frame)
        let length = Int(bytes[1]) << 24 | Int(bytes[2]) << 16 | Int(bytes[3]) << 8 | Int(bytes[4])
        XCTAssertEqual(length, bytes.count - 5)
        return try HelperProtocol.decode(type: bytes[0], payload: Array(bytes.dropFirst(5)))
    }

    func testEveryFrameRoundTrips() throws {
        let frames: [HelperProtocol.Frame] = [
            .request(request()), .request(request("bob", service: "", rhost: "", authtok: nil)), .request(request(authtok: "")),
            .prompt("PIN: ", echo: false), .prompt("Name: ", echo: true), .info("A code was sent.\nLine two"),
            .error("Wrong code."), .answer("123456"), .answer(""), .answer(nil),
            .result(.init(result: .authError, failDelay: 2, openedChallenge: false)),
            .result(.init(result: .success, failDelay: 0, openedChallenge: true)),
            .tokenRequest(.status), .tokenRequest(.setPIN), .tokenRequest(.forget), .tokenRequest(.recoveryCodes(count: 20)),
        ]
        for frame in frames { XCTAssertEqual(try roundTrip(frame), frame) }
    }

    func testTheQuietFlagTravelsAndAnEightFieldRequestIsNotQuiet() throws {
        var quiet = request()
        quiet.quiet = true
        XCTAssertEqual(try roundTrip(.request(quiet)), .request(quiet))
        func fields(_ list: [String]) -> [UInt8] { list.flatMap { Array($0.utf8) + [0] } }
        let eight = ["1", "alice", "svc", "host", "1", "pw", "33", "/usr/sbin/nginx"]
        XCTAssertEqual(try HelperProtocol.decodeRequest(fields(eight)).quiet, false)
        XCTAssertEqual(try HelperProtocol.decodeRequest(fields(eight + ["1"])).quiet, true)
    }

    func testMalformedRequestsAreRefused() {
        func fields(_ list: [String]) -> [UInt8] { list.flatMap { Array($0.utf8) + [0] } }
        let good = ["1", "alice", "svc", "host", "1", "pw", "33", "/usr/sbin/nginx"]
        XCTAssertNoThrow(try HelperProtocol.decodeRequest(fields(good)))
        var bad: [[UInt8]] = [[], Array(fields(good).dropLast()), fields(Array(good.dropLast())), fields(good + ["x"])]
        for (index, value) in [(0, "2"), (2, "sv\nc"), (3, "ho\rst"), (7, "/bin/\u{1B}x"), (4, "2"), (6, "-1"), (6, "033"),
                               (6, "4294967296"), (2, String(repeating: "a", count: 257)), (5, String(repeating: "a", count: 4097))] {
            var copy = good
            copy[index] = value
            bad.append(fields(copy))
        }
        var noAuthtok = good
        noAuthtok[4] = "0"
        bad.append(fields(noAuthtok))
        bad.append(Array("1\u{0}alice\u{0}".utf8) + [0xFF, 0xFE, 0] + Array("h\u{0}1\u{0}pw\u{0}33\u{0}p\u{0}".utf8))
        for bytes in bad {
            XCTAssertThrowsError(try HelperProtocol.decodeRequest(bytes), "\(bytes.prefix(40))")
        }
    }

    func testMalformedFramesAreRefused() {
        XCTAssertThrowsError(try HelperProtocol.decode(type: 0x58, payload: []), "unknown type")
        XCTAssertThrowsError(try HelperProtocol.decode(type: 0x49, payload: Array("a\u{1B}[2J".utf8)), "no terminal escapes")
        XCTAssertThrowsError(try HelperProtocol.decode(type: 0x50, payload: [0xC3]), "not UTF-8")
        XCTAssertThrowsError(try HelperProtocol.decode(type: 0x41, payload: Array(repeating: 0x61, count: 4097)), "answer too long")
        XCTAssertThrowsError(try HelperProtocol.decode(type: 0x4E, payload: [1]))
        XCTAssertThrowsError(try HelperProtocol.decode(type: 0x52, payload: [0, 0]))
        XCTAssertThrowsError(try HelperProtocol.decode(type: 0x52, payload: [0, 0, 2]))
    }

    /// A frame over a socket: read with a deadline, a header announcing more than the limit refused unread.
    func testFramesOverASocketAndTheirLimits() throws {
        let (a, b) = try ChildIO.socketPair()
        XCTAssertTrue(HelperProtocol.writeFrame(a.raw, .prompt("PIN: ", echo: false), until: Deadline(afterSeconds: 5)))
        XCTAssertEqual(try HelperProtocol.readFrame(b.raw, until: Deadline(afterSeconds: 5)), .prompt("PIN: ", echo: false))
        XCTAssertThrowsError(try HelperProtocol.readFrame(b.raw, until: Deadline(afterMilliseconds: 50)), "nothing sent: the deadline ends the wait")
        XCTAssertTrue(ChildIO.writeAll(a.raw, [0x41, 0x7F, 0xFF, 0xFF, 0xFF], until: Deadline(afterSeconds: 5)))
        XCTAssertThrowsError(try HelperProtocol.readFrame(b.raw, until: Deadline(afterSeconds: 5)))
        a.closeNow()
        XCTAssertThrowsError(try HelperProtocol.readFrame(b.raw, until: Deadline(afterSeconds: 5)), "end of file")
    }

    /// The helper's conversation: a prompt waits for its answer no longer than its timeout, and
    /// once the module is gone every later prompt fails at once.
    func testRelayConversationGivesUpAtItsDeadline() throws {
        let (module, helper) = try ChildIO.socketPair()
        let conversation = RelayConversation(input: helper.raw, output: helper.raw, answerTimeout: 0)
        XCTAssertNil(conversation.prompt("PIN: ", echo: false))
        XCTAssertTrue(conversation.broken)
        XCTAssertEqual(try HelperProtocol.readFrame(module.raw, until: Deadline(afterSeconds: 1)), .prompt("PIN: ", echo: false))
        let answering = RelayConversation(input: helper.raw, output: helper.raw, answerTimeout: 5)
        XCTAssertTrue(HelperProtocol.writeFrame(module.raw, .answer("1234"), until: Deadline(afterSeconds: 1)))
        XCTAssertEqual(answering.prompt("PIN: ", echo: false), "1234")
    }

    func testEveryResultSurvivesTheStatusAndUnknownOnesFailClosed() {
        for result in [AuthResult.success, .authError, .userUnknown, .ignore, .unavailable, .serviceError, .conversationError] {
            XCTAssertEqual(HelperProtocol.result(ofStatus: HelperProtocol.status(of: result)), result)
        }
        for status: Int32 in [5, 7, 64, 127, 255, -1] {
            XCTAssertEqual(HelperProtocol.result(ofStatus: status), .serviceError)
        }
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

    func testAnOwnTokenRequestNamesNoUserAndIsReadStrictly() {
        func fields(_ list: [String]) -> [UInt8] { list.flatMap { Array($0.utf8) + [0] } }
        XCTAssertEqual(try HelperProtocol.decodeTokenRequest(fields(["1", "recovery-codes", "3"])), .recoveryCodes(count: 3))
        for bad in [["1", "status", "bob"], ["2", "status"], ["1", "set-email"], ["1", "recovery-codes", "0"],
                    ["1", "recovery-codes", "21"], ["1", "recovery-codes", "03"], ["1", "recovery-codes"], ["1"]] {
            XCTAssertThrowsError(try HelperProtocol.decodeTokenRequest(fields(bad)), "\(bad)")
        }
        XCTAssertThrowsError(try HelperProtocol.decodeTokenRequest(Array("1\u{0}status".utf8)))
    }
}
