import XCTest
@testable import EmailOTPAudit

/// Files in memory for the audit: path → text.
struct MemoryFiles: AuditFiles {
    var files: [String: String]
    func read(_ path: String) throws -> String? { files[path] }
    func list(_ directory: String) throws -> [String]? {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        let names = files.keys.filter { $0.hasPrefix(prefix) && !$0.dropFirst(prefix.count).contains("/") }
            .map { String($0.dropFirst(prefix.count)) }
        return names.isEmpty ? nil : names.sorted()
    }
}

final class PAMStackParserTests: XCTestCase {
    func testWordsKeepBracketsTogether() {
        XCTAssertEqual(PAMStackReader.words("auth [success=1 default=ignore]\tpam_unix.so nullok"),
                       ["auth", "[success=1 default=ignore]", "pam_unix.so", "nullok"])
    }

    func testCommentsAndContinuations() {
        let lines = PAMStackReader.logicalLines("# c\nauth required \\\n  pam_x.so a # tail\n\nauth optional pam_y.so\r\n")
        XCTAssertEqual(lines.map(\.0), [2, 5])
        XCTAssertEqual(PAMStackReader.words(lines[0].1), ["auth", "required", "pam_x.so", "a"])
    }

    func testControls() {
        XCTAssertEqual(PAMStackReader.control("[success=2 default=ignore]")?.action("success"), .jump(2))
        XCTAssertEqual(PAMStackReader.control("[success=2 default=ignore]")?.action("auth_err"), .ignore)
        XCTAssertEqual(PAMStackReader.control("[success=ok]")?.action("auth_err"), .bad)
        XCTAssertNil(PAMStackReader.control("[success=maybe]"))
        XCTAssertNil(PAMStackReader.control("mandatory"))
        XCTAssertEqual(PAMControl.sufficient.action("auth_err"), .ignore)
        XCTAssertEqual(PAMControl.required.action("ignore"), .ignore)
        XCTAssertEqual(PAMControl.requisite.action("auth_err"), .die)
    }

    func testIncludesAndSubstacksResolve() throws {
        let files = MemoryFiles(files: [
            "/p/svc": "@include common\nauth substack sub\n-auth required pam_emailotp.so\naccount required pam_permit.so\n",
            "/p/common": "auth required pam_unix.so\nauth include more\n",
            "/p/more": "auth optional pam_cap.so\n",
            "/p/sub": "auth required pam_env.so\n",
        ])
        var reader = PAMStackReader(directory: "/p", files: files)
        let stack = try XCTUnwrap(try reader.stack(service: "svc"))
        XCTAssertEqual(stack.count, 4)
        guard case .substack(let line, let inner) = stack[2] else { return XCTFail("no substack") }
        XCTAssertEqual(line.line, 2)
        XCTAssertEqual(inner.count, 1)
        guard case .rule(let last) = stack[3] else { return XCTFail() }
        XCTAssertTrue(last.isEmailOTP)
        XCTAssertTrue(reader.findings.isEmpty)
    }

    func testMissingAndLoopingIncludesAreProblems() throws {
        let files = MemoryFiles(files: ["/p/a": "@include nothere\nauth include a\nauth required pam_emailotp.so\n"])
        var reader = PAMStackReader(directory: "/p", files: files)
        _ = try reader.stack(service: "a")
        XCTAssertEqual(reader.findings.map(\.rule), ["include-missing", "include-loop"])
    }

    /// A chain that does not loop but is deeper than libpam follows is a depth problem, not a loop.
    func testADeepIncludeChainIsReportedAsTooDeepNotAsALoop() throws {
        var all = [String: String]()
        for level in 0..<300 { all["/p/s\(level)"] = "auth include s\(level + 1)\n" }
        all["/p/s300"] = "auth required pam_emailotp.so\n"
        var reader = PAMStackReader(directory: "/p", files: MemoryFiles(files: all))
        _ = try reader.stack(service: "s0")
        XCTAssertEqual(reader.findings.map(\.rule), ["include-depth"])
        XCTAssertTrue(reader.findings.first?.message.contains("levels deep") == true, "\(reader.findings)")
    }
}

final class PAMStackRulesTests: XCTestCase {
    func findings(_ service: String, _ extra: [String: String] = [:]) throws -> [Finding] {
        var all = ["/p/svc": service]
        for (k, v) in extra { all["/p/" + k] = v }
        var reader = PAMStackReader(directory: "/p", files: MemoryFiles(files: all))
        let stack = try XCTUnwrap(try reader.stack(service: "svc"))
        return PAMStackRules.check(service: "svc", stack: stack) + reader.findings
    }

    func rules(_ service: String, _ extra: [String: String] = [:]) throws -> [String] {
        try findings(service, extra).filter { $0.severity == .problem }.map(\.rule)
    }

    func testCleanDebianStack() throws {
        let common = "auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\nauth required pam_permit.so\n"
        XCTAssertEqual(try rules("@include common-auth\nauth required pam_emailotp.so pin=none\n", ["common-auth": common]), [])
        XCTAssertEqual(try rules("@include common-auth\n", ["common-auth": common + "auth required pam_emailotp.so pin=none nullok\n"]), [])
    }

    func testFailurePasses() throws {
        XCTAssertEqual(try rules("auth sufficient pam_emailotp.so\nauth required pam_unix.so\n"), ["failure-passes"])
        XCTAssertEqual(try rules("auth optional pam_emailotp.so\n"), ["failure-passes"])
        XCTAssertEqual(try rules("auth [success=ok default=ignore] pam_emailotp.so\n"), ["failure-passes"])
        XCTAssertEqual(try rules("auth [success=ok auth_err=2 default=bad] pam_emailotp.so\nauth requisite pam_deny.so\n"), ["failure-passes"])
        // Fixed: a failure that falls onto pam_deny fails the stack.
        XCTAssertEqual(try rules("auth [success=1 default=ignore] pam_emailotp.so\nauth requisite pam_deny.so\nauth required pam_permit.so\n"), [])
        XCTAssertEqual(try rules("auth requisite pam_emailotp.so\n"), [])
    }

    func testNullokThenGrant() throws {
        XCTAssertEqual(try rules("auth required pam_emailotp.so nullok\nauth required pam_permit.so\n"), ["nullok-then-grant"])
        XCTAssertEqual(try rules("auth required pam_emailotp.so nullok\nauth sufficient pam_ldap.so\n"), ["nullok-then-grant"])
        XCTAssertEqual(try rules("auth required pam_unix.so\nauth required pam_emailotp.so nullok\n"), [])
        XCTAssertEqual(try rules("auth required pam_emailotp.so\nauth required pam_permit.so\n"), [])
    }

    func testSuccessSkipsModule() throws {
        XCTAssertEqual(try rules("auth [success=2 default=ignore] pam_unix.so\nauth requisite pam_deny.so\nauth required pam_emailotp.so\n"),
                       ["success-skips-module"])
        XCTAssertEqual(try rules("auth sufficient pam_unix.so\nauth required pam_emailotp.so\n"), ["success-skips-module"])
        XCTAssertEqual(try rules("auth [success=1 default=ignore] pam_unix.so\nauth requisite pam_deny.so\nauth required pam_emailotp.so\n"), [])
        // A sufficient line inside a substack ends only the substack.
        XCTAssertEqual(try rules("auth substack s\nauth required pam_emailotp.so\n", ["s": "auth sufficient pam_unix.so\n"]), [])
        XCTAssertEqual(try rules("auth include s\nauth required pam_emailotp.so\n", ["s": "auth sufficient pam_unix.so\n"]), ["success-skips-module"])
        let rootok = try findings("auth sufficient pam_rootok.so\nauth required pam_emailotp.so\n")
        XCTAssertEqual(rootok.map(\.rule), ["rootok-skips"])
        XCTAssertEqual(rootok.first?.severity, .note)
    }

    func testUseFirstPass() throws {
        XCTAssertEqual(try rules("auth required pam_emailotp.so use_first_pass\n"), ["use-first-pass-unset"])
        XCTAssertEqual(try rules("auth required pam_unix.so\nauth required pam_emailotp.so use_first_pass\n"), [])
        XCTAssertEqual(try rules("auth required pam_emailotp.so pin=none use_first_pass\n"), [])
    }

    func testBadArgument() throws {
        XCTAssertEqual(try rules("auth required pam_emailotp.so pin=maybe\n"), ["bad-argument"])
    }

    func testFindingsNameFileAndLine() throws {
        let found = try findings("\n\nauth sufficient pam_emailotp.so\n")
        XCTAssertEqual(found.first?.location, "/p/svc:3")
    }
}

final class SSHDAndSudoRulesTests: XCTestCase {
    func sshd(_ text: String, _ extra: [String: String] = [:]) throws -> [String] {
        var files = ["/s/sshd_config": text]
        for (k, v) in extra { files["/s/" + k] = v }
        return try SSHDConfigRules.check(path: "/s/sshd_config", files: MemoryFiles(files: files))
            .filter { $0.severity == .problem }.map(\.rule)
    }

    let good = "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n"

    func testGoodConfig() throws {
        XCTAssertEqual(try sshd(good), [])
        XCTAssertEqual(try sshd("usepam=yes\nAuthenticationMethods keyboard-interactive:pam\n"), [])
    }

    func testUsePAM() throws {
        XCTAssertEqual(try sshd("UsePAM no\nAuthenticationMethods keyboard-interactive\n"), ["sshd-usepam"])
        XCTAssertEqual(try sshd("AuthenticationMethods keyboard-interactive\n"), ["sshd-usepam"])
        // The first value wins.
        XCTAssertEqual(try sshd("UsePAM yes\nUsePAM no\nAuthenticationMethods keyboard-interactive\n"), [])
    }

    func testKeyboardInteractive() throws {
        XCTAssertEqual(try sshd("KbdInteractiveAuthentication no\n" + good), ["sshd-kbdinteractive"])
        XCTAssertEqual(try sshd("ChallengeResponseAuthentication no\n" + good), ["sshd-kbdinteractive"])
        XCTAssertEqual(try sshd(good + "Match User bob\n  KbdInteractiveAuthentication no\n"), ["sshd-kbdinteractive"])
    }

    func testAuthenticationMethods() throws {
        XCTAssertEqual(try sshd("UsePAM yes\n"), ["sshd-authmethods"])
        XCTAssertEqual(try sshd("UsePAM yes\nPubkeyAuthentication no\n"), [])
        XCTAssertEqual(try sshd("UsePAM yes\nAuthenticationMethods publickey publickey,keyboard-interactive\n"), ["sshd-authmethods"])
        XCTAssertEqual(try sshd(good + "Match Address 10.0.0.0/8\n AuthenticationMethods publickey\n"), ["sshd-authmethods"])
    }

    func testIncludeIsFollowed() throws {
        XCTAssertEqual(try sshd("Include sshd_config.d/*.conf\n" + good, ["sshd_config.d/10-pam.conf": "UsePAM no\n"]), ["sshd-usepam"])
        XCTAssertEqual(try sshd("Include sshd_config.d/*.conf\n" + good, ["sshd_config.d/10-x.txt": "UsePAM no\n"]), [])
    }

    func sudo(_ text: String, _ extra: [String: String] = [:]) throws -> [Finding] {
        var files = ["/e/sudoers": text]
        for (k, v) in extra { files["/e/" + k] = v }
        return try SudoersRules.check(path: "/e/sudoers", files: MemoryFiles(files: files))
    }

    func testSudoTimestamp() throws {
        XCTAssertEqual(try sudo("Defaults env_reset\n").map(\.rule), ["sudo-timestamp"])
        XCTAssertEqual(try sudo("Defaults env_reset, timestamp_timeout=0\n"), [])
        XCTAssertEqual(try sudo("Defaults timestamp_timeout=-1\n").map(\.severity), [.problem])
        let included = try sudo("@includedir /e/sudoers.d\n", ["sudoers.d/x": "Defaults:alice timestamp_timeout = 30\n",
                                                               "sudoers.d/y.bak": "Defaults timestamp_timeout=-1\n"])
        XCTAssertEqual(included.map(\.location), ["/e/sudoers.d/x:1"])
        XCTAssertEqual(try sudo("Defaults timestamp_timeout=0\nbob ALL=(ALL) NOPASSWD: ALL\n").map(\.rule), ["sudo-no-authentication"])
        // Found by the sudoers fuzz target: a blank inside the name is no timestamp_timeout setting.
        let split = try sudo("Defaults env_reset, timestamp_ti\tmeout=0\n")
        XCTAssertEqual(split.map(\.rule), ["sudo-timestamp"])
        XCTAssertEqual(split.map(\.line), [0])
    }
}

extension SSHDAndSudoRulesTests {
    /// Found by the sudoers fuzz target: a directory include of the file's own directory.
    func testIncludeLoopsEnd() throws {
        let found = try sudo("Defaults timestamp_timeout=5\n@includedir /e\n@includedir /e\n")
        XCTAssertEqual(found.map(\.location), ["/e/sudoers:1"])
        XCTAssertEqual(try sshd("Include /s/sshd_config\nInclude /s/*\n" + good), [])
    }
}

final class LocalUsersTests: XCTestCase {
    func testLoginUsers() {
        let passwd = """
        root:x:0:0:root:/root:/bin/bash
        daemon:x:1:1::/usr/sbin:/usr/sbin/nologin
        alice:x:1000:1000::/home/alice:/bin/bash
        svc:x:1001:1001::/:/bin/false
        nobody:x:65534:65534::/nonexistent:/bin/sh
        bad line
        carol:x:1002:1002::/home/carol:
        """
        XCTAssertEqual(LocalUsers.logins(passwd: passwd), ["root", "alice", "carol"])
    }

    func testAuditCountsUsersWithoutTokenOnlyUnderAStrictStack() throws {
        var files = MemoryFiles(files: ["/p/login": "auth required pam_unix.so\nauth required pam_emailotp.so\n",
                                        "/etc/passwd": "root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/h:/bin/sh\n"])
        var audit = StackAudit()
        audit.pamDirectory = "/p"
        audit.sshdConfig = nil
        audit.sudoers = nil
        var report = try audit.run(files: files) { $0 == "alice" }
        XCTAssertEqual(report.strictServices, ["login"])
        XCTAssertEqual(report.usersWithoutToken, ["root"])
        files.files["/p/login"] = "auth required pam_unix.so\nauth required pam_emailotp.so nullok\n"
        report = try audit.run(files: files) { _ in false }
        XCTAssertEqual(report.usersWithoutToken, [])
    }

    func testMissingPAMDirectoryCannotBeRead() {
        var audit = StackAudit()
        audit.pamDirectory = "/nothere"
        XCTAssertThrowsError(try audit.run(files: MemoryFiles(files: [:])) { _ in false }) { XCTAssertTrue($0 is AuditReadError) }
    }
}

/// Clients that end a login while the user waits for the mail (ClientTimeouts).
final class ClientTimeoutTests: XCTestCase {
    func notes(_ files: [String: String]) throws -> [Finding] {
        var audit = StackAudit()
        audit.pamDirectory = "/p"
        audit.sshdConfig = nil
        audit.sudoers = nil
        audit.loginDefs = "/e/login.defs"
        audit.cockpitConf = "/e/cockpit.conf"
        var all = files
        all["/etc/passwd"] = "root:x:0:0::/root:/bin/bash\n"
        return try audit.run(files: MemoryFiles(files: all)) { _ in true }.findings
            .filter { $0.rule == "login-timeout" || $0.rule == "cockpit-response-timeout" }
    }

    let module = "auth required pam_emailotp.so\n"

    func testLoginTimeoutBelowTwoMinutesIsNotedWhenLoginUsesTheModule() throws {
        let found = try notes(["/p/login": module, "/e/login.defs": "# x\nLOGIN_TIMEOUT\t\t60\n"])
        XCTAssertEqual(found.map(\.location), ["/e/login.defs:2"])
        XCTAssertEqual(found.first?.severity, .note)
        XCTAssertTrue(found.first?.message.hasPrefix("LOGIN_TIMEOUT 60: login gives up") == true, "\(found)")
        XCTAssertEqual(try notes(["/p/login": module, "/e/login.defs": "LOGIN_TIMEOUT 300\n"]), [])
        XCTAssertEqual(try notes(["/p/login": module, "/e/login.defs": "LOGIN_TIMEOUT 0\n"]), [], "0: no limit")
        XCTAssertEqual(try notes(["/p/login": module, "/e/login.defs": "# LOGIN_TIMEOUT 300\n"]).count, 1, "unset: 60")
        XCTAssertEqual(try notes(["/p/login": "auth required pam_unix.so\n", "/p/sudo": module,
                                  "/e/login.defs": "LOGIN_TIMEOUT 60\n"]), [], "login does not use the module")
    }

    func testCockpitResponseTimeoutBelowTwoMinutesIsNoted() throws {
        XCTAssertEqual(try notes(["/p/cockpit": module]).map(\.location), ["/e/cockpit.conf"], "no file: 60 s")
        XCTAssertEqual(try notes(["/p/cockpit": module, "/e/cockpit.conf": "[WebService]\nresponse-timeout = 300\n"]).count, 1,
                       "only [basic] counts")
        XCTAssertEqual(try notes(["/p/cockpit": module, "/e/cockpit.conf": "[Basic]\n response-timeout=300\n"]), [])
        let found = try notes(["/p/cockpit": module, "/e/cockpit.conf": "[basic]\nresponse-timeout = 90\n"])
        XCTAssertEqual(found.map(\.location), ["/e/cockpit.conf:2"])
        XCTAssertTrue(found.first?.message.contains("set response-timeout = 300 under [basic]") == true)
    }

    func testSSHDLoginGraceTime() throws {
        func notes(_ text: String) throws -> [String] {
            try SSHDConfigRules.check(path: "/s/c", files: MemoryFiles(files: ["/s/c": text]))
                .filter { $0.rule == "sshd-logingracetime" }.map(\.location)
        }
        let good = "UsePAM yes\nAuthenticationMethods publickey,keyboard-interactive\n"
        XCTAssertEqual(try notes(good), [], "the default is 120 s")
        XCTAssertEqual(try notes(good + "LoginGraceTime 1m\n"), ["/s/c:3"])
        XCTAssertEqual(try notes(good + "LoginGraceTime 90\n"), ["/s/c:3"])
        XCTAssertEqual(try notes(good + "LoginGraceTime 2m\n"), [])
        XCTAssertEqual(try notes(good + "LoginGraceTime 0\n"), [], "0: no limit")
        XCTAssertEqual(ClientTimeouts.sshdSeconds("1h30m"), 5400)
        XCTAssertNil(ClientTimeouts.sshdSeconds("1x"))
    }
}
