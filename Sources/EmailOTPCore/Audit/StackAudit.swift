import EmailOTPSystem

/// What `emailotp config-check` finds around the module: every PAM service's auth stack, sshd
/// and sudo, and the local users a stack without `nullok` would lock out.
package struct AuditReport {
    /// Problems and notes, one per place: a line shared by several services (an included
    /// file) is reported once, with every service it applies to.
    package var findings: [Finding] = []
    /// Services whose auth stack uses pam_emailotp.
    package var services: [String] = []
    /// Of those, the ones with a pam_emailotp line without `nullok`.
    package var strictServices: [String] = []
    /// Local login users (a real shell, uid 0 or ≥ 1000) with no token; empty when no stack
    /// requires a token.
    package var usersWithoutToken: [String] = []
    /// Per service, the effective policy of each pam_emailotp line (who is asked, from where).
    package var policies: [(service: String, policy: String)] = []

    package var problemCount: Int { findings.filter { $0.severity == .problem }.count }
}

package struct StackAudit {
    package var pamDirectory = "/etc/pam.d"
    /// nil: not checked. A missing file is an error only when `sshdConfigExplicit`.
    package var sshdConfig: String? = "/etc/ssh/sshd_config"
    package var sshdConfigExplicit = false
    package var sudoers: String? = "/etc/sudoers"
    package var sudoersExplicit = false
    package var passwd = "/etc/passwd"
    /// login's and Cockpit's time limits, read when their services use the module.
    package var loginDefs = "/etc/login.defs"
    package var cockpitConf = "/etc/cockpit/cockpit.conf"
    /// Whether NSS knows a group named in `groups` (tests replace it).
    package var groupExists: (String) -> Bool = { UnixGroup.id(of: $0) != nil }

    package init() {}

    /// Throws `AuditReadError` when something it was told to read cannot be read.
    package func run(files: AuditFiles, hasToken: (String) throws -> Bool) throws -> AuditReport {
        var report = AuditReport()
        guard let names = try files.list(pamDirectory) else { throw AuditReadError("\(pamDirectory): no such directory") }
        var reader = PAMStackReader(directory: pamDirectory, files: files)
        var raw = [Finding]()
        for service in names where Self.isServiceName(service) {
            guard let stack = try reader.stack(service: service) else { continue }
            guard PAMStackRules.usesModule(stack) else { continue }
            report.services.append(service)
            if PAMStackRules.requiresToken(stack) { report.strictServices.append(service) }
            raw += PAMStackRules.check(service: service, stack: stack)
            let policy = PolicyRules.check(service: service, stack: stack, files: files, groupExists: groupExists)
            raw += policy.findings
            report.policies += policy.policies.map { (service, $0) }
        }
        raw += reader.findings
        if report.services.isEmpty {
            raw.append(Finding("no-service", .note, file: pamDirectory, line: 0, "no PAM service uses pam_emailotp"))
        }
        raw += try checkService("sshd", path: sshdConfig, explicit: sshdConfigExplicit, report: report, files: files) {
            try SSHDConfigRules.check(path: $0, files: files)
        }
        raw += try checkService("sudo", path: sudoers, explicit: sudoersExplicit, report: report, files: files) {
            try SudoersRules.check(path: $0, files: files)
        }
        if report.services.contains("login") {
            raw += ClientTimeouts.login(defs: loginDefs, text: try files.read(loginDefs))
        }
        if report.services.contains("cockpit") {
            raw += ClientTimeouts.cockpit(conf: cockpitConf, text: try files.read(cockpitConf))
        }
        report.findings = Self.merged(raw)
        if !report.strictServices.isEmpty {
            guard let text = try files.read(passwd) else { throw AuditReadError("\(passwd) does not exist") }
            report.usersWithoutToken = try LocalUsers.logins(passwd: text).filter { try !hasToken($0) }
        }
        return report
    }

    /// The settings of a program (sshd, sudo) matter when its PAM service uses the module.
    func checkService(_ service: String, path: String?, explicit: Bool, report: AuditReport, files: AuditFiles,
                      _ rules: (String) throws -> [Finding]) throws -> [Finding] {
        guard let path = path else { return [] }
        let exists = try files.read(path) != nil
        if !exists {
            if explicit { throw AuditReadError("\(path) does not exist") }
            return []
        }
        guard report.services.contains(service) else {
            if try files.read(joinedPath(pamDirectory, service)) != nil && !report.services.isEmpty {
                return [Finding("\(service)-without-module", .note, file: joinedPath(pamDirectory, service), line: 0,
                                "the \(service) service does not use pam_emailotp: \(service) asks no code")]
            }
            return []
        }
        return try rules(path)
    }

    /// Files libpam would never open as a service: backups and package leftovers.
    static func isServiceName(_ name: String) -> Bool {
        !ByteText.hasPrefix(name, ".") && !ByteText.hasSuffix(name, "~") && !ByteText.hasSuffix(name, ".bak") && !ByteText.hasSuffix(name, ".swp")
            && !ByteText.contains(name, ".dpkg-") && !ByteText.contains(name, ".rpm") && !ByteText.hasSuffix(name, ".orig") && !ByteText.hasSuffix(name, ".ucf-dist")
    }

    /// One finding per (rule, place, message), with the services merged.
    static func merged(_ findings: [Finding]) -> [Finding] {
        var out = [Finding]()
        for finding in findings {
            if let index = out.firstIndex(where: {
                $0.rule == finding.rule && $0.file == finding.file && $0.line == finding.line && $0.message == finding.message
            }) {
                for service in finding.services where !out[index].services.contains(service) {
                    out[index].services.append(service)
                }
            } else {
                out.append(finding)
            }
        }
        return out
    }
}

/// The local accounts people log in with.
package enum LocalUsers {
    static let nonLoginShells: Set<String> = ["nologin", "false", "sync", "halt", "shutdown"]

    /// Users of a passwd file with a real shell and uid 0 or ≥ 1000 (nobody excluded).
    package static func logins(passwd: String) -> [String] {
        numberedLines(passwd).compactMap { entry in
            let fields = ByteText.split(entry.text, at: 0x3A).map(String.init)
            guard fields.count == 7, !fields[0].isEmpty, !ByteText.hasPrefix(fields[0], "+"), !ByteText.hasPrefix(fields[0], "-"),
                  let uid = parseInteger(fields[2], in: 0...4_294_967_295) else { return nil }
            guard uid == 0 || (uid >= 1000 && uid != 65534) else { return nil }
            let shell = String(ByteText.split(fields[6], at: 0x2F).last(where: { !$0.isEmpty }) ?? "")
            guard !nonLoginShells.contains(shell) else { return nil }
            return fields[0]
        }
    }
}
