@testable import EmailOTPAudit

/// Files in memory for the audit targets: path → text.
struct FuzzFiles: AuditFiles {
    var files: [String: String]
    func read(_ path: String) throws -> String? { files[path] }
    func list(_ directory: String) throws -> [String]? {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        let names = files.keys.filter { $0.hasPrefix(prefix) && !$0.dropFirst(prefix.count).contains("/") }
            .map { String($0.dropFirst(prefix.count)) }
        return names.isEmpty ? nil : names.sorted()
    }

    /// Every finding names a file that exists and a line within it (0 = the whole file).
    func checkPlaces(_ findings: [Finding]) {
        for finding in findings {
            guard let text = files[finding.file] else {
                check(false, "finding names a file that was not read: \(shown(finding.file))")
                return
            }
            let lines = numberedLines(text).count
            check(finding.line >= 0 && finding.line <= lines, "\(finding.rule) at line \(finding.line) of \(lines)")
            check(!finding.message.isEmpty && !finding.rule.isEmpty, "empty finding")
        }
    }
}
