import XCTest
@testable import EmailOTPFlows
@testable import EmailOTPSystem
@testable import EmailOTPToken

/// Record format 2 (recovery codes, remembered hosts, alerts) and the reading of format 1.
final class RecordMigrationTests: FlowTestCase {
    let hostID = String(repeating: "ab", count: 32)
    let otherID = String(repeating: "cd", count: 32)

    static let version1 = """
    emailotp-token 1
    user alice
    email alice@example.com
    pin $y$j9T$abc$def
    state enabled
    fail_count 2
    locked_at 0
    mails 1764230000

    """

    func testVersion1RecordLoadsWithoutTheNewFields() throws {
        let record = try RecordFormat.parse(Self.version1, expectedUser: "alice")
        XCTAssertEqual(record.failCount, 2)
        XCTAssertEqual(record.recoveryHashes, [])
        XCTAssertEqual(record.remembered, [])
        XCTAssertEqual(record.recentHosts, [])
        XCTAssertEqual(record.alerts, [])
        XCTAssertEqual(record.alertedLock, 0)
        XCTAssertTrue(RecordFormat.render(record).hasPrefix("emailotp-token 2\n"))
    }

    func testVersion1RecordInTheStoreIsMigratedOnTheNextWrite() throws {
        try store.prepare(create: true)
        try writeFile("\(storeDirectory)/users/alice", Self.version1)
        XCTAssertEqual(try record()?.failCount, 2)
        let (result, _) = (InteractiveFlow(authenticator()).run(user: "alice", conversation: ScriptedConversation([answer("x")]),
                                                      nullok: false, stackPIN: nil, firstPass: .no).status, 0)
        XCTAssertEqual(result, .authError)
        let text = try XCTUnwrap(try SafeFile.readText("\(storeDirectory)/users/alice",
                                                       policy: FilePolicy(owner: geteuid(), forbiddenModeBits: 0o077, maxSize: 65536)))
        XCTAssertTrue(text.hasPrefix("emailotp-token 2\n"), text)
        XCTAssertEqual(try record()?.failCount, 3)
    }

    func testExtrasRoundTripInTheDocumentedFormat() throws {
        var record = TokenRecord(user: "alice", email: "alice@example.com", pinHash: "$y$j9T$abc$def")
        record.recoveryHashes = ["$y$j9T$s1$h1", "$y$j9T$s2$h2"]
        record.remembered = [RememberedHost(id: hostID, created: 1_764_230_000, expires: 1_764_233_600)]
        record.recentHosts = [hostID, otherID]
        record.alerts = [1_764_230_100]
        record.alertedLock = 1_764_230_050
        let text = RecordFormat.render(record)
        XCTAssertTrue(text.hasSuffix("""
        mails
        recovery $y$j9T$s1$h1 $y$j9T$s2$h2
        remember \(hostID) 1764230000 1764233600
        hosts \(hostID) \(otherID)
        alerts 1764230100
        lock_alerted 1764230050

        """), text)
        XCTAssertEqual(try RecordFormat.parse(text, expectedUser: "alice"), record)
    }

    func testBadExtrasAreRefused() {
        let base = RecordFormat.render(TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil))
        for bad in ["recovery", "recovery nohash", "recovery $y$a b\u{1}", "remember \(hostID) 1", "remember xyz 1 2",
                    "remember \(hostID) 1 -2", "hosts \(hostID) short", "alerts x", "lock_alerted -1",
                    "recovery $y$a\nrecovery $y$b", "hosts \(hostID)\nhosts \(hostID)"] {
            XCTAssertThrowsError(try RecordFormat.parse(base + bad + "\n", expectedUser: "alice"), bad)
        }
        let many = (0...RecordFormat.maxExtraEntries).map { _ in "remember \(hostID) 1 2" }.joined(separator: "\n")
        XCTAssertThrowsError(try RecordFormat.parse(base + many + "\n", expectedUser: "alice"))
        XCTAssertThrowsError(try RecordFormat.parse(base.replacingFirstLine("emailotp-token 3"), expectedUser: "alice"))
    }
}

extension String {
    func replacingFirstLine(_ line: String) -> String {
        guard let newline = firstIndex(of: "\n") else { return line }
        return line + self[newline...]
    }
}
