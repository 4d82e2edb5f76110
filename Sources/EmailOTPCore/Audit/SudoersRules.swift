import EmailOTPSystem

/// Reads sudoers (following `@include`/`@includedir` and their `#` spellings) for what lets
/// sudo skip the PAM stack: the timestamp (no authentication for `timestamp_timeout` minutes
/// after one), `NOPASSWD` and `!authenticate`.
package enum SudoersRules {
    /// sudo's compiled-in default on Debian.
    static let defaultTimeout = "15"

    package static func check(path: String, files: AuditFiles) throws -> [Finding] {
        guard let text = try files.read(path) else { throw AuditReadError("\(path) does not exist") }
        var timeouts = [(value: String, file: String, line: Int)]()
        var out = [Finding]()
        var budget = 256
        try read(text, file: path, files: files, chain: [path], budget: &budget, timeouts: &timeouts, findings: &out)
        if timeouts.isEmpty {
            out.append(Finding("sudo-timestamp", .note, file: path, line: 0,
                               "timestamp_timeout is not set (default \(defaultTimeout) minutes): for that long after an authenticated sudo, sudo runs no PAM stack and asks no code; Defaults timestamp_timeout=0 asks every time"))
        }
        for timeout in timeouts {
            if ByteText.hasPrefix(timeout.value, "-") {
                out.append(Finding("sudo-timestamp", .problem, file: timeout.file, line: timeout.line,
                                   "timestamp_timeout=\(timeout.value): the timestamp never expires, so after one sudo the code is never asked again"))
            } else if timeout.value.contains(where: { $0 != "0" && $0 != "." }) {
                out.append(Finding("sudo-timestamp", .note, file: timeout.file, line: timeout.line,
                                   "timestamp_timeout=\(timeout.value) minutes: for that long after an authenticated sudo, sudo asks no code"))
            }
        }
        return out
    }

    /// `chain`: the files being read, outermost first (an include of one of them is skipped, as
    /// sudo refuses it); `budget`: files left to read, so includes cannot multiply without end.
    static func read(_ text: String, file: String, files: AuditFiles, chain: [String], budget: inout Int,
                     timeouts: inout [(value: String, file: String, line: Int)], findings: inout [Finding]) throws {
        let directory = ByteText.split(file, at: 0x2F).dropLast().joined(separator: "/")
        for (number, line) in PAMStackReader.logicalSudoLines(text) {
            let words = blankSeparated(line)
            guard let first = words.first else { continue }
            if ByteText.isOne(first, of: ["@include", "#include", "@includedir", "#includedir"]), words.count >= 2 {
                let target = joinedPath(directory, words[1])
                if ByteText.hasSuffix(first, "dir") {
                    // sudo skips names with a dot or ending in ~ (editor and package leftovers).
                    for name in try files.list(target) ?? [] where !ByteText.contains(name, byte: 0x2E) && !ByteText.hasSuffix(name, "~") {
                        let path = joinedPath(target, name)
                        guard !chain.contains(path), budget > 0 else { continue }
                        budget -= 1
                        if let included = try files.read(path) {
                            try read(included, file: path, files: files, chain: chain + [path], budget: &budget,
                                     timeouts: &timeouts, findings: &findings)
                        }
                    }
                } else if !chain.contains(target), budget > 0, let included = try files.read(target) {
                    budget -= 1
                    try read(included, file: target, files: files, chain: chain + [target], budget: &budget,
                             timeouts: &timeouts, findings: &findings)
                }
                continue
            }
            if ByteText.hasPrefix(first, "#") { continue }
            if ByteText.hasPrefix(first, "Defaults") {
                let settings = ByteText.split(ByteText.droppingASCIIPrefix(line, first.utf8.count), at: 0x2C)
                    .filter { !$0.isEmpty }.map { String($0).trimmedBlanks }
                for setting in settings {
                    // Blanks may stand around "=", not inside the name (sudo refuses "timestamp_ti meout").
                    let parts = ByteText.split(setting, at: 0x3D, maxSplits: 1)
                    if parts.count == 2, ByteText.same(ByteText.trimmingBlanks(parts[0]), "timestamp_timeout") {
                        timeouts.append((String(ByteText.trimmingBlanks(parts[1])), file, number))
                    }
                    let compact = String(decoding: setting.utf8.filter { $0 != ByteText.space && $0 != ByteText.tab }, as: UTF8.self)
                    if ByteText.same(compact, "!authenticate") {
                        findings.append(Finding("sudo-no-authentication", .note, file: file, line: number,
                                                "\(first) !authenticate: sudo runs no PAM stack there, so asks no code"))
                    }
                }
                continue
            }
            if ByteText.contains(line, "NOPASSWD:") {
                findings.append(Finding("sudo-no-authentication", .note, file: file, line: number,
                                        "NOPASSWD: these commands run without authentication, so without a code"))
            }
        }
    }
}

extension PAMStackReader {
    /// sudoers lines with `\` continuations joined; `#` starts a comment except in `#include`.
    static func logicalSudoLines(_ text: String) -> [(Int, String)] {
        var out = [(Int, String)]()
        var pending = ""
        var start = 0
        for (number, raw) in numberedLines(text) {
            var line = raw.trimmedBlanks
            if !ByteText.hasPrefix(line, "#include"), let hash = ByteText.firstIndex(of: 0x23, in: line) { line = String(line[..<hash]) }
            if pending.isEmpty { start = number }
            if ByteText.hasSuffix(line, "\\") {
                pending += String(ByteText.droppingASCIISuffix(line)) + " "
                continue
            }
            pending += line
            if !pending.trimmedBlanks.isEmpty { out.append((start, pending.trimmedBlanks)) }
            pending = ""
        }
        return out
    }
}
