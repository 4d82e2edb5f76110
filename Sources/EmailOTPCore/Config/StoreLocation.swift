import CShim
import EmailOTPSystem

/// The `store` setting: a directory (file store) or a libpq connection URI (PostgreSQL store).
/// Which store it opens is decided in Flows/StoreChoice.swift, above Config and Store.
package enum StoreLocation {
    package static func isDatabaseURI(_ value: String) -> Bool {
        ByteText.hasPrefix(value, "postgresql://") || ByteText.hasPrefix(value, "postgres://")
    }

    /// Accepts an absolute directory or a `postgresql://` / `postgres://` URI without a password
    /// (the URI reaches logs and sits in world-readable PAM service files).
    package static func validate(_ value: String) throws -> String {
        guard isDatabaseURI(value) else { return try ConfigKeys.path("store", value) }
        guard !value.hasControlCharacters, value.utf8.count <= 4096, !ByteText.contains(value, byte: ByteText.space) else {
            throw ConfigError("store: the URI holds spaces or control characters, or is longer than 4096 bytes")
        }
        if holdsPassword(value) {
            throw ConfigError("store: the URI holds a password; put it in a root-only file named by store_password_file")
        }
        return value
    }

    /// True when the URI holds a password as libpq reads it: libpq's own parser
    /// (`PQconninfoParse`) decides, and where libpq cannot be loaded (or does not parse the URI)
    /// the same rule spelled out: the user part ends at the first `@` before any `/` (a `?`
    /// does not end it), and a `:` in it starts a password; or a `password` parameter.
    static func holdsPassword(_ uri: String) -> Bool {
        switch cshim_pq_conninfo_has_password(uri) {
        case 1: return true
        case 0: return false
        default: return holdsPasswordByRule(uri)
        }
    }

    static func holdsPasswordByRule(_ uri: String) -> Bool {
        guard let scheme = uri.utf8.firstRange(of: Array("://".utf8)) else { return false }
        let afterSlashes = Array(uri.utf8[scheme.upperBound...])
        let userEnd = afterSlashes.firstIndex { $0 == UInt8(ascii: "@") || $0 == UInt8(ascii: "/") } ?? afterSlashes.count
        if userEnd < afterSlashes.count, afterSlashes[userEnd] == UInt8(ascii: "@"), afterSlashes[..<userEnd].contains(UInt8(ascii: ":")) {
            return true
        }
        guard let question = afterSlashes.firstIndex(of: UInt8(ascii: "?")) else { return false }
        for parameter in afterSlashes[(question + 1)...].split(separator: UInt8(ascii: "&")) {
            let key = parameter.split(separator: UInt8(ascii: "="), maxSplits: 1).first.map { percentDecoded(Array($0)) } ?? []
            if key == Array("password".utf8) { return true }
        }
        return false
    }

    /// The URI as logs may show it: anything after a `:` in the user part, and the value of
    /// a `password` parameter, replaced by `***` (the configuration refuses both; this keeps a
    /// log line safe whatever reached it).
    package static func shown(_ uri: String) -> String {
        guard isDatabaseURI(uri), let scheme = uri.utf8.firstRange(of: Array("://".utf8)) else { return uri }
        var bytes = Array(uri.utf8[scheme.upperBound...])
        if let userEnd = bytes.firstIndex(where: { $0 == UInt8(ascii: "@") || $0 == UInt8(ascii: "/") }),
           bytes[userEnd] == UInt8(ascii: "@"), let colon = bytes[..<userEnd].firstIndex(of: UInt8(ascii: ":")) {
            bytes.replaceSubrange((colon + 1)..<userEnd, with: Array("***".utf8))
        }
        if let question = bytes.firstIndex(of: UInt8(ascii: "?")) {
            let parameters = bytes[(question + 1)...].split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false).map { parameter -> [UInt8] in
                let parts = parameter.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, percentDecoded(Array(parts[0])) == Array("password".utf8) else { return Array(parameter) }
                return Array(parts[0]) + Array("=***".utf8)
            }
            bytes = Array(bytes[...question]) + Array(parameters.joined(separator: [UInt8(ascii: "&")]))
        }
        return String(decoding: uri.utf8[..<scheme.upperBound], as: UTF8.self) + String(decoding: bytes, as: UTF8.self)
    }

    static func percentDecoded(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = Hex.value(bytes[index + 1]), let low = Hex.value(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }
}
