import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPToken

/// The record lines of `notify = unanswered` (docs/DESIGN.md, emailotp.conf(5)): a challenge's
/// origin and the codes waiting for their alert.
final class UnansweredRecordTests: XCTestCase {
    let hash = String(repeating: "0f", count: 32)
    let origin = ChallengeOrigin(service: "sshd", rhost: "192.0.2.7")

    func testTheOriginIsTwoHexFieldsAfterTheTriesAndRoundTrips() throws {
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        record.challenges = [Challenge(transactionID: "12345678901234567890", codeHash: hash, created: 100, expires: 400,
                                       triesLeft: 3, origin: ChallengeOrigin(service: "sudo", rhost: ""))]
        record.unanswered = [UnansweredCode(created: 10, expires: 310, origin: origin)]
        let text = RecordFormat.render(record)
        XCTAssertTrue(text.contains("\nchallenge 12345678901234567890 \(hash) 100 400 3 7375646f -\n"), text)
        XCTAssertTrue(text.contains("\nunanswered 10 310 73736864 3139322e302e322e37\n"), text)
        XCTAssertEqual(try RecordFormat.parse(text, expectedUser: "alice"), record)
    }

    /// An application's service or host cannot add a field or a line.
    func testHostileValuesStayInTheirFields() throws {
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        let hostile = ChallengeOrigin(service: "a b\nunanswered 1 2 - -", rhost: String(repeating: "é", count: 300))
        XCTAssertEqual(hostile.rhost.utf8.count, 254, "cut on a scalar boundary")
        record.unanswered = [UnansweredCode(created: 1, expires: 2, origin: hostile)]
        let text = RecordFormat.render(record)
        XCTAssertEqual(text.split(separator: "\n").filter { $0.hasPrefix("unanswered") }.count, 1)
        XCTAssertEqual(try RecordFormat.parse(text, expectedUser: "alice").unanswered.first?.origin, hostile)
    }

    func testOldRecordsAndOldChallengeLinesStayReadable() throws {
        let text = """
        emailotp-token 2
        user alice
        email alice@example.com
        pin -
        state enabled
        fail_count 0
        locked_at 0
        mails
        challenge 12345678901234567890 \(hash) 100 400 3

        """
        let record = try RecordFormat.parse(text, expectedUser: "alice")
        XCTAssertNil(record.challenges.first?.origin)
        XCTAssertEqual(record.unanswered, [])
        XCTAssertEqual(RecordFormat.render(record), text, "a record without them is written as it was")
    }

    func testMalformedLinesAreRefused() {
        let head = "emailotp-token 2\nuser alice\nemail a@example.com\npin -\nstate enabled\nfail_count 0\nlocked_at 0\nmails\n"
        for bad in ["challenge 12345678901234567890 \(hash) 100 400 3 7373",
                    "challenge 12345678901234567890 \(hash) 100 400 3 7373 XYZ",
                    "challenge 12345678901234567890 \(hash) 100 400 3 7373 7373 7373",
                    "challenge 12345678901234567890 \(hash) 100 400 3 73736 -",
                    "challenge 12345678901234567890 \(hash) 100 400 3 5A53 -",
                    "challenge 12345678901234567890 \(hash) 100 400 3 ff -",
                    "unanswered 1 2 -",
                    "unanswered x 2 - -",
                    "unanswered 1 2 - - -",
                    String(repeating: "unanswered 1 2 - -\n", count: UnansweredCode.maxKept + 1)] {
            XCTAssertThrowsError(try RecordFormat.parse(head + bad + "\n", expectedUser: "alice"), bad)
        }
    }

    func testRefreshNotesOnlyArmedChallengesWithAnOriginAndKeepsTheNewest() {
        var config = Config()
        config.notify = [.unanswered]
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        func challenge(_ id: Int, tries: Int, origin: ChallengeOrigin?) -> Challenge {
            Challenge(transactionID: String(repeating: "0", count: 19) + String(id % 10), codeHash: hash,
                      created: Int64(id), expires: Int64(id) + 300, triesLeft: tries, origin: origin)
        }
        record.challenges = [challenge(1, tries: 3, origin: origin), challenge(2, tries: 0, origin: origin),
                             challenge(3, tries: 1, origin: nil), challenge(1000, tries: 3, origin: origin)]
        record.refresh(now: 500, config: config)
        XCTAssertEqual(record.unanswered, [UnansweredCode(created: 1, expires: 301, origin: origin)])
        XCTAssertEqual(record.challenges.map(\.created), [1000])
        for n in 0..<30 { record.unanswered.append(UnansweredCode(created: 2000 + Int64(n), expires: 2300, origin: origin)) }
        record.refresh(now: 500, config: config)
        XCTAssertEqual(record.unanswered.count, UnansweredCode.maxKept)
        XCTAssertEqual(record.unanswered.last?.created, 2029)
        config.notify = []
        record.refresh(now: 500, config: config)
        XCTAssertEqual(record.unanswered, [])
    }
}
