import EmailOTPSystem
import Glibc

/// Reads sshd_config (following `Include`, noting `Match` blocks) for the settings that keep
/// sshd from ever running the keyboard-interactive PAM conversation that asks for the code.
package struct SSHDConfigRules {
    struct Setting {
        var value: String
        var file: String
        var line: Int
        /// `Match ...` with its place, or nil in the global section.
        var match: String?
        /// Reading order across files, for keywords that are aliases of each other.
        var order: Int
    }

    let files: AuditFiles
    /// The directory relative `Include` paths start from (sshd uses /etc/ssh).
    let baseDirectory: String
    var settings: [String: [Setting]] = [:]
    var findings: [Finding] = []
    /// Files left to read, so that includes cannot multiply without end.
    var budget = 256

    /// The findings for the file at `path` (problems and notes).
    package static func check(path: String, files: AuditFiles) throws -> [Finding] {
        let directory = ByteText.split(path, at: 0x2F).dropLast().joined(separator: "/")
        var reader = SSHDConfigRules(files: files, baseDirectory: directory.isEmpty ? "/" : directory)
        guard let text = try files.read(path) else { throw AuditReadError("\(path) does not exist") }
        try reader.read(text, file: path, match: nil, chain: [path])
        return reader.findings + reader.evaluate(mainFile: path)
    }

    /// `chain`: the files being read, outermost first; including one of them again is a loop.
    mutating func read(_ text: String, file: String, match inherited: String?, chain: [String]) throws {
        var match = inherited
        for (number, raw) in numberedLines(text) {
            let line = raw.trimmedBlanks
            if line.isEmpty || ByteText.hasPrefix(line, "#") { continue }
            let (keyword, value) = Self.split(line)
            switch keyword {
            case "match":
                match = ByteText.asciiLowercased(value) == "all" ? nil : "Match \(value) (\(file):\(number))"
            case "include":
                for pattern in blankSeparated(value) {
                    for path in files.expand(joinedPath(baseDirectory, pattern)) where !chain.contains(path) && budget > 0 {
                        budget -= 1
                        if let included = try files.read(path) {
                            try read(included, file: path, match: match, chain: chain + [path])
                        }
                    }
                }
            default:
                let order = settings.values.reduce(0) { $0 + $1.count }
                settings[keyword, default: []].append(Setting(value: value, file: file, line: number, match: match, order: order))
            }
        }
    }

    /// `Keyword value` or `Keyword=value`; keywords are case-insensitive.
    static func split(_ line: String) -> (String, String) {
        let blank: String.Index? = line.utf8.firstIndex(where: { $0 == ByteText.space || $0 == ByteText.tab || $0 == 0x3D })
        let end = blank ?? line.utf8.endIndex
        let keyword = line[line.startIndex..<end]
        var value = String(line[end...]).trimmedBlanks
        if ByteText.hasPrefix(value, "=") { value = String(ByteText.droppingASCIIPrefix(value)).trimmedBlanks }
        value = String(ByteText.unquoted(value))
        return (ByteText.asciiLowercased(keyword), value)
    }

    /// The value sshd uses globally (the first one wins) and the first one in each Match block.
    func effective(_ keywords: [String]) -> (global: Setting?, matches: [Setting]) {
        let ordered = keywords.flatMap { settings[$0] ?? [] }.sorted { $0.order < $1.order }
        let global = ordered.first { $0.match == nil }
        var seen = Set<String>()
        var matches = [Setting]()
        for setting in ordered {
            guard let block = setting.match, !seen.contains(block) else { continue }
            seen.insert(block)
            matches.append(setting)
        }
        return (global, matches)
    }

    func evaluate(mainFile: String) -> [Finding] {
        var out = [Finding]()
        let usePAM = effective(["usepam"]).global
        if let setting = usePAM {
            if ByteText.asciiLowercased(setting.value) != "yes" {
                out.append(Finding("sshd-usepam", .problem, file: setting.file, line: setting.line,
                                   "UsePAM \(setting.value): sshd never runs the PAM stack, so never asks for the code"))
            }
        } else {
            out.append(Finding("sshd-usepam", .problem, file: mainFile, line: 0,
                               "UsePAM is not set (default no): sshd never runs the PAM stack, so never asks for the code"))
        }
        let kbd = effective(["kbdinteractiveauthentication", "challengeresponseauthentication"])
        for setting in [kbd.global].compactMap({ $0 }) + kbd.matches where ByteText.asciiLowercased(setting.value) == "no" {
            out.append(Finding("sshd-kbdinteractive", .problem, file: setting.file, line: setting.line,
                               "keyboard-interactive is off\(Self.scope(setting)): the code prompt is never shown"))
        }
        let methods = effective(["authenticationmethods"])
        let pubkey = effective(["pubkeyauthentication"]).global.map { ByteText.asciiLowercased($0.value) } ?? "yes"
        if let setting = methods.global, ByteText.asciiLowercased(setting.value) != "any" {
            out += Self.methodFindings(setting)
        } else if pubkey != "no" {
            let place = methods.global
            out.append(Finding("sshd-authmethods", .problem, file: place?.file ?? mainFile, line: place?.line ?? 0,
                               "AuthenticationMethods is not set (any): a public key alone logs in without keyboard-interactive; set e.g. AuthenticationMethods publickey,keyboard-interactive"))
        }
        for setting in methods.matches where ByteText.asciiLowercased(setting.value) != "any" {
            out += Self.methodFindings(setting)
        }
        for setting in methods.matches where ByteText.asciiLowercased(setting.value) == "any" {
            out.append(Finding("sshd-authmethods", .problem, file: setting.file, line: setting.line,
                               "AuthenticationMethods any\(Self.scope(setting)): any single method logs in without keyboard-interactive"))
        }
        if let grace = effective(["logingracetime"]).global, let seconds = ClientTimeouts.sshdSeconds(grace.value),
           seconds > 0 && seconds < ClientTimeouts.minimum {
            out.append(Finding("sshd-logingracetime", .note, file: grace.file, line: grace.line,
                               "LoginGraceTime \(grace.value): sshd drops the connection before a slow mail arrives; set LoginGraceTime \(ClientTimeouts.minimum) or more"))
        }
        return out
    }

    /// Each alternative list must contain keyboard-interactive, or it logs in without the code.
    static func methodFindings(_ setting: Setting) -> [Finding] {
        blankSeparated(setting.value).compactMap { list in
            let methods = ByteText.split(list, at: 0x2C).filter { !$0.isEmpty }.map { ByteText.asciiLowercased($0) }
            if methods.contains(where: { $0 == "keyboard-interactive" || ByteText.hasPrefix($0, "keyboard-interactive:") }) { return nil }
            return Finding("sshd-authmethods", .problem, file: setting.file, line: setting.line,
                           "AuthenticationMethods \(list)\(scope(setting)) never reaches keyboard-interactive: those logins skip the code")
        }
    }

    static func scope(_ setting: Setting) -> String {
        setting.match.map { " in \($0)" } ?? ""
    }
}

extension AuditFiles {
    /// The files a glob pattern names, sorted (sshd's and sudo's `Include` take patterns).
    func expand(_ pattern: String) -> [String] {
        if !pattern.contains(where: { "*?[".contains($0) }) { return [pattern] }
        let directory = ByteText.split(pattern, at: 0x2F).dropLast().joined(separator: "/")
        let namePattern = String(ByteText.split(pattern, at: 0x2F).last(where: { !$0.isEmpty }) ?? "")
        guard let names = try? list(directory.isEmpty ? "/" : directory) else { return [] }
        return names.filter { SafeFile.nameMatches($0, pattern: namePattern) }.map { joinedPath(directory, $0) }
    }
}
