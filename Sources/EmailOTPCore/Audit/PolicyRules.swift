import EmailOTPConfig
import EmailOTPSystem

/// `groups` and `trusted_networks` as `emailotp config-check` sees them in each stack: the
/// module answers `PAM_IGNORE` to those it does not ask, and the stack then decides alone.
package enum PolicyRules {
    /// Modules that decide nothing about who the user is: when only these can succeed around an
    /// ignored pam_emailotp, the stack lets the user in with no factor at all.
    static let nonAuthenticating: Set<String> = [
        "pam_permit.so", "pam_deny.so", "pam_env.so", "pam_faildelay.so", "pam_nologin.so", "pam_succeed_if.so",
        "pam_access.so", "pam_time.so", "pam_localuser.so", "pam_listfile.so", "pam_warn.so", "pam_echo.so",
        "pam_shells.so", "pam_group.so", "pam_cap.so", "pam_keyinit.so", "pam_limits.so", "pam_loginuid.so",
        "pam_securetty.so", "pam_faillock.so", "pam_tally2.so", "pam_wheel.so", "pam_rootok.so", "pam_exec.so",
        "pam_mount.so", "pam_gnome_keyring.so", "pam_kwallet5.so", "pam_selinux.so", "pam_umask.so",
    ]

    /// What the module does for one line: its effective settings, the file's then the line's.
    package struct Policy: Equatable {
        package var groups = GroupRule()
        package var trusted = TrustedNetworks()
        package var pinMode = PINMode.token
        package var mode = FlowMode.interactive
        package var nullok = false

        /// One line for the report: who is asked, from where, and how.
        package var summary: String {
            var parts = [String]()
            if groups.isEmpty {
                parts.append("asks everyone")
            } else {
                var who = groups.included.isEmpty ? "asks everyone" : "asks members of \(groups.included.joined(separator: ", "))"
                if !groups.excluded.isEmpty { who += " except members of \(groups.excluded.joined(separator: ", "))" }
                parts.append(who + "; anyone else is ignored")
            }
            if !trusted.isEmpty {
                parts.append(pinMode == .none ? "ignores logins from \(trusted.text)" : "asks only the PIN from \(trusted.text)")
            }
            parts.append("pin=\(pinMode.rawValue), mode=\(mode.rawValue)\(nullok ? ", nullok" : "")")
            return parts.joined(separator: "; ")
        }

        /// Why the module may answer PAM_IGNORE to a user with a token, or nil.
        var ignores: String? {
            var why = [String]()
            if !groups.isEmpty { why.append("groups=\(groups.text): a user not asked") }
            if !trusted.isEmpty && pinMode == .none { why.append("trusted_networks with pin=none: a login from \(trusted.text)") }
            return why.isEmpty ? nil : why.joined(separator: "; ")
        }
    }

    /// The settings of `options` over the file it names (read through `files`; a file that is
    /// missing or does not parse leaves the defaults, which `config-check` reports on its own).
    static func policy(_ options: ModuleOptions, files: AuditFiles) -> Policy {
        var config = Config()
        if let text = try? files.read(options.configPath), let entries = try? ConfigLoader.parse(text, source: options.configPath) {
            for entry in entries { try? ConfigKeys.apply(entry.key, entry.value, to: &config) }
        }
        for (key, value) in options.overrides { try? ConfigKeys.apply(key, value, to: &config) }
        return Policy(groups: config.groups, trusted: config.trustedNetworks, pinMode: options.pinMode,
                      mode: options.mode, nullok: options.nullok)
    }

    /// The findings of one service, and its policy per pam_emailotp line.
    /// - Parameter groupExists: whether NSS knows a group (tests replace it).
    package static func check(service: String, stack: [PAMStackItem], files: AuditFiles,
                             groupExists: (String) -> Bool) -> (findings: [Finding], policies: [String]) {
        var findings = [Finding]()
        var policies = [String]()
        for (rule, frames) in PAMStackRules.occurrences(stack, frames: []) {
            guard let options = try? ModuleOptions(arguments: rule.arguments) else { continue }
            let policy = policy(options, files: files)
            policies.append("\(rule.file):\(rule.line): \(policy.summary)")
            func report(_ id: String, _ severity: Finding.Severity, _ message: String) {
                findings.append(Finding(id, severity, file: rule.file, line: rule.line, message, services: [service]))
            }
            for name in policy.groups.included + policy.groups.excluded where !groupExists(name) {
                report("groups-unknown", .note, "groups: NSS knows no group \"\(LogText.printable(name))\" here: "
                    + "the module asks every user it cannot place (a typing error, or a directory not reachable)")
            }
            if policy.trusted.trustsEverything {
                report("trusted-everywhere", .problem, "trusted_networks=\(policy.trusted.text) holds every address: "
                    + (policy.pinMode == .none ? "no remote login is ever asked for a code" : "remote logins are asked the PIN alone, never a code"))
            }
            guard let why = policy.ignores else { continue }
            let action = rule.control.action("ignore")
            guard action == .ignore || action == .ok else { continue }
            let others = PAMStackRules.flattened(stack).filter { !$0.isEmailOTP }
            let factors = others.filter { !nonAuthenticating.contains($0.moduleName) }
            let grant = PAMStackRules.grantAfter(frames)
                ?? PAMStackRules.earlierRules(frames).first { $0.moduleName == "pam_permit.so" }
            if factors.isEmpty, let grant = grant {
                // sshd's own public key can be the first factor of a pin=none stack.
                let keyFirst = service == "sshd" && policy.pinMode == .none
                report("ignore-grants-without-factor", keyFirst ? .note : .problem,
                       "\(why) gets PAM_IGNORE, and \(grant.moduleName) at \(grant.file):\(grant.line) then lets them in "
                       + "with no other factor in this stack"
                       + (keyFirst ? " (sshd: only its AuthenticationMethods, a public key first, stands in front)" : ""))
            } else if factors.isEmpty && grant == nil {
                report("ignore-refuses", .note, "\(why) gets PAM_IGNORE, and no other module of this stack grants: "
                    + "such users cannot log in through \(service)")
            }
        }
        return (findings, policies)
    }
}
