import EmailOTPSystem

/// What a PAM control does with one return value of its module (pam.conf(5)).
package enum PAMAction: Equatable {
    case ok, done, bad, die, ignore, reset
    case jump(Int)

    init?(_ text: String) {
        switch text {
        case "ok": self = .ok
        case "done": self = .done
        case "bad": self = .bad
        case "die": self = .die
        case "ignore": self = .ignore
        case "reset": self = .reset
        default:
            guard let count = parseInteger(text, in: 1...1000) else { return nil }
            self = .jump(Int(count))
        }
    }
}

/// The control field of a PAM line: a keyword or `[value=action ...]`.
package enum PAMControl: Equatable {
    case required, requisite, sufficient, optional
    case actions([String: PAMAction])

    /// The action for a return value (`success`, `auth_err`, `ignore`, ...), as libpam applies
    /// the keywords. A value a bracket does not name takes `default`; without one, `bad`.
    package func action(_ value: String) -> PAMAction {
        switch self {
        case .required: return ["success": .ok, "new_authtok_reqd": .ok, "ignore": .ignore][value] ?? .bad
        case .requisite: return ["success": .ok, "new_authtok_reqd": .ok, "ignore": .ignore][value] ?? .die
        case .sufficient: return ["success": .done, "new_authtok_reqd": .done][value] ?? .ignore
        case .optional: return ["success": .ok, "new_authtok_reqd": .ok][value] ?? .ignore
        case .actions(let map): return map[value] ?? map["default"] ?? .bad
        }
    }

    /// Every (value, action) pair the control names, `default` included; empty for keywords.
    var named: [(String, PAMAction)] {
        guard case .actions(let map) = self else { return [] }
        return map.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// One `auth` line of a service, where it was read.
package struct PAMRule: Equatable {
    package var file: String
    package var line: Int
    package var control: PAMControl
    package var controlText: String
    /// The module path as written (`pam_unix.so` or an absolute path).
    package var module: String
    package var arguments: [String]

    /// The module's file name without directories: `pam_unix.so`.
    package var moduleName: String {
        String(ByteText.split(module, at: 0x2F).last(where: { !$0.isEmpty }) ?? Substring(module))
    }

    package var isEmailOTP: Bool { moduleName == "pam_emailotp.so" }
}

/// The `auth` stack of a service with `include` and `@include` resolved in place and each
/// `substack` kept as one item (libpam counts a substack as one module when jumping).
package indirect enum PAMStackItem: Equatable {
    case rule(PAMRule)
    case substack(PAMRule, [PAMStackItem])
}

/// Reads a service's `auth` stack from a pam.d directory.
package struct PAMStackReader {
    /// libpam's limit on nested `include`/`substack` (`PAM_SUBSTACK_MAX_LEVEL`).
    static let maxIncludeDepth = 16
    package let directory: String
    let files: AuditFiles
    /// Included files that are missing or loop: problems of the stack.
    package private(set) var findings: [Finding] = []

    package init(directory: String, files: AuditFiles) {
        self.directory = directory
        self.files = files
    }

    /// The service's auth stack; nil when the service file does not exist.
    package mutating func stack(service: String) throws -> [PAMStackItem]? {
        let path = joinedPath(directory, service)
        guard let text = try files.read(path) else { return nil }
        return try items(text, file: path, chain: [path])
    }

    mutating func items(_ text: String, file: String, chain: [String]) throws -> [PAMStackItem] {
        var out = [PAMStackItem]()
        for (number, line) in Self.logicalLines(text) {
            let words = Self.words(line)
            guard let first = words.first else { continue }
            if ByteText.same(first, "@include") {
                guard words.count >= 2 else { continue }
                out += try included(words[1], from: file, line: number, chain: chain)
                continue
            }
            let type = ByteText.hasPrefix(first, "-") ? String(ByteText.droppingASCIIPrefix(first)) : first
            guard ByteText.same(type, "auth"), words.count >= 3 else { continue }
            let controlText = words[1]
            if ByteText.isOne(controlText, of: ["include", "substack"]) {
                let nested = try included(words[2], from: file, line: number, chain: chain)
                if ByteText.same(controlText, "include") {
                    out += nested
                } else {
                    let rule = PAMRule(file: file, line: number, control: .required, controlText: controlText,
                                       module: words[2], arguments: [])
                    out.append(.substack(rule, nested))
                }
                continue
            }
            guard let control = Self.control(controlText) else {
                findings.append(Finding("bad-control", .problem, file: file, line: number,
                                        "the control \"\(LogText.printable(controlText))\" is not understood; libpam refuses the line"))
                continue
            }
            out.append(.rule(PAMRule(file: file, line: number, control: control, controlText: controlText,
                                     module: words[2], arguments: Array(words.dropFirst(3)))))
        }
        return out
    }

    mutating func included(_ name: String, from file: String, line: Int, chain: [String]) throws -> [PAMStackItem] {
        let path = joinedPath(directory, name)
        guard !chain.contains(path) else {
            findings.append(Finding("include-loop", .problem, file: file, line: line,
                                    "\(name) includes itself (\(chain.joined(separator: " -> ")))"))
            return []
        }
        // libpam stops at this many levels (PAM_SUBSTACK_MAX_LEVEL) and fails the whole stack.
        guard chain.count < Self.maxIncludeDepth else {
            findings.append(Finding("include-depth", .problem, file: file, line: line,
                                    "\(name) is included \(chain.count + 1) levels deep, past libpam's limit of \(Self.maxIncludeDepth): "
                                        + "libpam fails the whole stack (\(chain.first ?? file) -> ... -> \(file))"))
            return []
        }
        guard let text = try files.read(path) else {
            findings.append(Finding("include-missing", .problem, file: file, line: line,
                                    "the included file \(path) does not exist: libpam fails the whole stack"))
            return []
        }
        return try items(text, file: path, chain: chain + [path])
    }

    /// Lines with `#` comments removed and `\` continuations joined, with the number of the
    /// line each starts on.
    static func logicalLines(_ text: String) -> [(Int, String)] {
        var out = [(Int, String)]()
        var pending = ""
        var start = 0
        for (number, raw) in numberedLines(text) {
            var line = raw
            if let hash = ByteText.firstIndex(of: 0x23, in: line) { line = String(line[..<hash]) }
            if pending.isEmpty { start = number }
            if ByteText.hasSuffix(line, "\\") {
                pending += String(ByteText.droppingASCIISuffix(line)) + " "
                continue
            }
            pending += line
            if !pending.trimmedBlanks.isEmpty { out.append((start, pending)) }
            pending = ""
        }
        if !pending.trimmedBlanks.isEmpty { out.append((start, pending)) }
        return out
    }

    /// Blank-separated words; a `[...]` word may hold blanks (controls and module arguments).
    static func words(_ line: String) -> [String] {
        var out = [String]()
        var current = [UInt8]()
        var depth = 0
        for byte in line.utf8 {
            if (byte == ByteText.space || byte == ByteText.tab) && depth == 0 {
                if !current.isEmpty { out.append(String(decoding: current, as: UTF8.self)) }
                current = []
                continue
            }
            if byte == 0x5B { depth += 1 }
            if byte == 0x5D && depth > 0 { depth -= 1 }
            current.append(byte)
        }
        if !current.isEmpty { out.append(String(decoding: current, as: UTF8.self)) }
        return out
    }

    static func control(_ text: String) -> PAMControl? {
        let simple: [(String, PAMControl)] = [("required", .required), ("requisite", .requisite),
                                              ("sufficient", .sufficient), ("optional", .optional)]
        if let (_, control) = simple.first(where: { ByteText.same($0.0, text) }) { return control }
        do {
            guard ByteText.hasPrefix(text, "["), ByteText.hasSuffix(text, "]") else { return nil }
            var map = [String: PAMAction]()
            for pair in blankSeparated(String(ByteText.droppingASCIISuffix(ByteText.droppingASCIIPrefix(text)))) {
                let parts = ByteText.split(pair, at: 0x3D, maxSplits: 1).filter { !$0.isEmpty }.map(String.init)
                guard parts.count == 2, let action = PAMAction(parts[1]) else { return nil }
                map[parts[0]] = action
            }
            return .actions(map)
        }
    }
}
