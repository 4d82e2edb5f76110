import XCTest
@testable import EmailOTPAudit

/// config-check and `groups` / `trusted_networks`: where PAM_IGNORE lets a stack succeed with
/// no factor, and the effective policy of each service.
final class PolicyRulesTests: XCTestCase {
    func report(_ files: [String: String]) throws -> AuditReport {
        var audit = StackAudit()
        audit.pamDirectory = "/p"
        audit.sshdConfig = nil
        audit.sudoers = nil
        audit.groupExists = { ["admins", "contractors"].contains($0) }
        var all = files
        all["/etc/passwd"] = "root:x:0:0::/root:/bin/bash\n"
        return try audit.run(files: MemoryFiles(files: all)) { _ in true }
    }

    func rules(_ report: AuditReport) -> [String] { report.findings.map(\.rule) }

    func testGroupsWithOnlyPermitAfterLetsANonMemberInWithNoFactor() throws {
        let stack = "auth required pam_emailotp.so groups=admins\nauth required pam_permit.so\n"
        let found = try report(["/p/sudo": stack])
        let finding = try XCTUnwrap(found.findings.first { $0.rule == "ignore-grants-without-factor" })
        XCTAssertEqual(finding.severity, .problem)
        XCTAssertEqual(finding.line, 1)
        XCTAssertTrue(finding.message.contains("groups=admins"), finding.message)
        XCTAssertTrue(finding.message.contains("pam_permit.so at /p/sudo:2"), finding.message)
    }

    func testGroupsBehindAPasswordIsNoProblem() throws {
        let stack = "auth required pam_unix.so\nauth required pam_emailotp.so pin=none groups=admins\nauth required pam_permit.so\n"
        let found = try report(["/p/sudo": stack])
        XCTAssertFalse(rules(found).contains("ignore-grants-without-factor"))
        XCTAssertEqual(found.policies.map(\.service), ["sudo"])
        XCTAssertEqual(found.policies.first?.policy,
                       "/p/sudo:2: asks members of admins; anyone else is ignored; pin=none, mode=interactive")
    }

    func testTrustedNetworksWithPinNoneAndAnEarlierPermit() throws {
        let stack = "auth required pam_permit.so\nauth required pam_emailotp.so pin=none trusted_networks=10.0.0.0/8\n"
        let found = try report(["/p/login": stack])
        let finding = try XCTUnwrap(found.findings.first { $0.rule == "ignore-grants-without-factor" })
        XCTAssertTrue(finding.message.contains("trusted_networks with pin=none"), finding.message)
        // With pin=token the PIN is still asked: PAM_IGNORE never comes from trusted_networks.
        let token = try report(["/p/login": "auth required pam_permit.so\nauth required pam_emailotp.so trusted_networks=10.0.0.0/8\n"])
        XCTAssertFalse(rules(token).contains("ignore-grants-without-factor"))
        XCTAssertEqual(token.policies.first?.policy,
                       "/p/login:2: asks everyone; asks only the PIN from 10.0.0.0/8; pin=token, mode=interactive")
    }

    func testTheConfigurationFileCounts() throws {
        let found = try report(["/p/sudo": "auth required pam_emailotp.so config=/c/otp.conf\nauth required pam_permit.so\n",
                                "/c/otp.conf": "groups = !contractors\n"])
        XCTAssertTrue(rules(found).contains("ignore-grants-without-factor"))
        XCTAssertEqual(found.policies.first?.policy,
                       "/p/sudo:1: asks everyone except members of contractors; anyone else is ignored; pin=token, mode=interactive")
    }

    func testAnIgnoredUserWithNoOtherModuleCannotLogIn() throws {
        let found = try report(["/p/sshd": "auth required pam_emailotp.so groups=admins\n"])
        XCTAssertEqual(found.findings.first { $0.rule == "ignore-refuses" }?.severity, .note)
        XCTAssertFalse(rules(found).contains("ignore-grants-without-factor"))
    }

    func testUnknownGroupsAndTrustingEverything() throws {
        let found = try report(["/p/sshd": "auth required pam_unix.so\nauth required pam_emailotp.so groups=admins,!typo trusted_networks=0.0.0.0/0\n"])
        XCTAssertEqual(found.findings.first { $0.rule == "groups-unknown" }?.message.contains("\"typo\""), true)
        XCTAssertEqual(found.findings.first { $0.rule == "trusted-everywhere" }?.severity, .problem)
    }

    func testNoRulesNoFindings() throws {
        let found = try report(["/p/sudo": "auth required pam_emailotp.so\nauth required pam_permit.so\n"])
        XCTAssertTrue(found.findings.filter { ["ignore-grants-without-factor", "ignore-refuses", "groups-unknown"].contains($0.rule) }.isEmpty)
        XCTAssertEqual(found.policies.first?.policy, "/p/sudo:1: asks everyone; pin=token, mode=interactive")
    }
}
