import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPSystem

/// `grant_scope` (emailotp.conf(5)): on a database store, `remember` ids and `auth_cache` hashes
/// cover the host's identity unless the fleet is trusted; a file store keeps its old ids.
final class GrantScopeTests: TempDirTestCase {
    let key = [UInt8](repeating: 7, count: 32)

    func testTheHostIsInTheHashesOnADatabaseStoreOnly() throws {
        var config = Config()
        XCTAssertNil(config.grantHost, "a file store is the host's own: old ids kept")
        config.store = "postgresql://emailotp@db1.example.org/emailotp"
        XCTAssertEqual(config.grantHost, Host.identity)
        config.hostID = "web-07"
        XCTAssertEqual(config.grantHost, "web-07")
        config.grantScope = .fleet
        XCTAssertNil(config.grantHost)
    }

    func testGrantsOfOneHostDoNotMatchOnAnother() throws {
        func remembered(_ host: String?) throws -> String {
            try HostKey.remembered(key: key, user: "alice", service: "sshd", rhost: "192.0.2.7", host: host)
        }
        func cached(_ host: String?) throws -> String {
            try GrantHasher(key: key).hash(user: "alice", service: "imap", rhost: "192.0.2.7", password: "pin123456", host: host)
        }
        for id in [remembered, cached] {
            let a = try id("machine-id:aaaa"), b = try id("machine-id:bbbb"), fleet = try id(nil)
            XCTAssertNotEqual(a, b)
            XCTAssertNotEqual(a, fleet)
            XCTAssertEqual(a, try id("machine-id:aaaa"))
        }
        // Without a host the ids are those made before grant_scope existed.
        XCTAssertEqual(try remembered(nil), Hex.encode(try Digest.hmacSHA256(key: key, message: Array("remember\0alice\0sshd\0192.0.2.7".utf8))))
    }

    func testTheIdentityIsTheMachineIDOrElseTheHostName() throws {
        let file = root + "/machine-id"
        try "0123456789abcdef0123456789abcdef\n".write(toFile: file, atomically: false, encoding: .utf8)
        XCTAssertEqual(Host.identity(machineID: file), "machine-id:0123456789abcdef0123456789abcdef")
        try "uninitialized\n".write(toFile: file, atomically: false, encoding: .utf8)
        XCTAssertEqual(Host.identity(machineID: file), "hostname:" + Host.name())
        XCTAssertEqual(Host.identity(machineID: root + "/none"), "hostname:" + Host.name())
    }
}
