import ArgumentParser
import EmailOTPAudit
import EmailOTPCore
import Glibc

/// The part of `config-check` that reads the PAM stacks, sshd_config and sudoers
/// (StackAudit in the core); exit 0 clean, 1 problems, 2 cannot read.
struct StackCheckOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The PAM service directory.", valueName: "dir"))
    var pamDir = "/etc/pam.d"

    @Option(name: .long, help: ArgumentHelp("sshd's configuration (default /etc/ssh/sshd_config, skipped when missing).", valueName: "path"))
    var sshdConfig: String?

    @Option(name: .long, help: ArgumentHelp("sudo's configuration (default /etc/sudoers, skipped when missing).", valueName: "path"))
    var sudoers: String?

    @Option(name: .long, help: ArgumentHelp("The passwd file whose login users are counted.", valueName: "path"))
    var passwd = "/etc/passwd"

    @Option(name: .long, help: ArgumentHelp("login's settings, for LOGIN_TIMEOUT when the login service uses the module.", valueName: "path"))
    var loginDefs = "/etc/login.defs"

    @Option(name: .long, help: ArgumentHelp("Cockpit's settings, for response-timeout when the cockpit service uses the module.", valueName: "path"))
    var cockpitConf = "/etc/cockpit/cockpit.conf"

    @Flag(help: "Print one JSON object.") var json = false

    var audit: StackAudit {
        var audit = StackAudit()
        audit.pamDirectory = pamDir
        audit.sshdConfig = sshdConfig ?? "/etc/ssh/sshd_config"
        audit.sshdConfigExplicit = sshdConfig != nil
        audit.sudoers = sudoers ?? "/etc/sudoers"
        audit.sudoersExplicit = sudoers != nil
        audit.passwd = passwd
        audit.loginDefs = loginDefs
        audit.cockpitConf = cockpitConf
        return audit
    }

    func report(_ config: Config?, _ global: GlobalOptions) throws -> AuditReport {
        let enrolled = try config.map { Set(try global.openStore($0).users()) } ?? []
        var result = try audit.run(files: SystemAuditFiles()) { enrolled.contains($0) }
        // The module would refuse every mail of the --address-from-command tokens.
        if let path = config?.addressCommand, !path.isEmpty {
            do {
                _ = try AddressCommand.trustedProgram(path)
            } catch {
                result.findings.append(Finding("address-command-untrusted", .problem, file: global.config ?? ConfigLoader.defaultPath,
                                               line: 0, "\(error): no code can be mailed to tokens enrolled with --address-from-command"))
            }
        }
        if let config = config, let warning = AddressCommand.accountWarning(config) {
            result.findings.append(Finding("address-command-user", warning.problem ? .problem : .note,
                                           file: global.config ?? ConfigLoader.defaultPath, line: 0, warning.message))
        }
        return result
    }

    /// Text output after the configuration lines of `config-check`.
    func run(_ global: GlobalOptions) throws {
        let result: AuditReport
        do {
            result = try report(try global.loadConfig(), global)
        } catch let error as AuditReadError {
            printError("\(error)")
            throw ExitCode(2)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let strict = result.strictServices.isEmpty ? "" : " (without nullok: \(result.strictServices.joined(separator: ", ")))"
        print("pam_emailotp is used by: \(result.services.isEmpty ? "no service" : result.services.joined(separator: ", "))\(strict)")
        for entry in result.policies {
            print("policy \(entry.service): \(entry.policy)")
        }
        for finding in result.findings {
            let services = finding.services.isEmpty ? "" : " (\(finding.services.joined(separator: ", ")))"
            let label = finding.severity == .problem ? "PROBLEM" : "note"
            print("\(label) \(finding.location) [\(finding.rule)]\(services): \(finding.message)")
        }
        if !result.usersWithoutToken.isEmpty {
            print("note [users-without-token]: \(result.usersWithoutToken.count) local login user(s) have no token and cannot pass \(result.strictServices.joined(separator: ", ")): \(result.usersWithoutToken.prefix(20).joined(separator: ", "))")
        }
        if result.problemCount > 0 {
            print("stacks: \(result.problemCount) problem(s) found")
            throw ExitCode(1)
        }
        print("stacks OK: no way around pam_emailotp found")
    }

    /// `--json`: the whole check as one object, the configuration included.
    func runJSON(_ global: GlobalOptions) throws {
        let path = global.config ?? ConfigLoader.defaultPath
        var config: Config? = nil
        var configError: String? = nil
        do {
            let loaded = try global.loadConfig()
            config = loaded
            _ = try global.probeStore(loaded)
        } catch {
            configError = "\(error)"
        }
        let configJSON = JSON.object([("path", .string(path)), ("error", configError.map { .string($0) } ?? .null)])
        let result: AuditReport
        do {
            result = try report(config, global)
        } catch {
            print(JSON.object([("config", configJSON), ("error", .string("\(error)"))]).text)
            throw ExitCode(error is AuditReadError ? 2 : 1)
        }
        let findings: [JSON] = result.findings.map { finding in
            .object([("rule", .string(finding.rule)), ("severity", .string(finding.severity.rawValue)),
                     ("file", .string(finding.file)), ("line", .number(Int64(finding.line))),
                     ("services", .array(finding.services.map { .string($0) })), ("message", .string(finding.message))])
        }
        print(JSON.object([
            ("config", configJSON),
            ("services", .array(result.services.map { .string($0) })),
            ("services_without_nullok", .array(result.strictServices.map { .string($0) })),
            ("problems", .number(Int64(result.problemCount))),
            ("findings", .array(findings)),
            ("users_without_token", .array(result.usersWithoutToken.map { .string($0) })),
            ("policies", .array(result.policies.map { .object([("service", .string($0.service)), ("policy", .string($0.policy))]) })),
        ]).text)
        if configError != nil || result.problemCount > 0 { throw ExitCode(1) }
    }
}
