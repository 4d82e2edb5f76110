import EmailOTPSystem

/// The `store` setting: a directory (file store) or a libpq connection URI (PostgreSQL store).
/// Which store it opens is decided in Flows/StoreChoice.swift, above Config and Store.
public enum StoreLocation {
    public static func isDatabaseURI(_ value: String) -> Bool {
        ByteText.hasPrefix(value, "postgresql://") || ByteText.hasPrefix(value, "postgres://")
    }

    /// Accepts an absolute directory or a `postgresql://` / `postgres://` URI without a password
    /// (the URI reaches logs and sits in world-readable PAM service files).
    public static func validate(_ value: String) throws -> String {
        guard isDatabaseURI(value) else { return try ConfigKeys.path("store", value) }
        guard !value.hasControlCharacters, value.utf8.count <= 4096, !ByteText.contains(value, byte: ByteText.space) else {
            throw ConfigError("store: the URI holds spaces or control characters, or is longer than 4096 bytes")
        }
        if holdsPassword(value) {
            throw ConfigError("store: the URI holds a password; put it in a root-only file named by store_password_file")
        }
        return value
    }

    /// True when `user:password@` or a `password=` parameter is in the URI.
    static func holdsPassword(_ uri: String) -> Bool {
        let rest = uri.utf8.split(separator: UInt8(ascii: "/"), maxSplits: 2, omittingEmptySubsequences: false)
        guard rest.count == 3 else { return false }
        let afterSlashes = Array(rest[2])
        let authorityEnd = afterSlashes.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? afterSlashes.count
        let authority = afterSlashes[..<authorityEnd]
        if let at = authority.lastIndex(of: UInt8(ascii: "@")), authority[..<at].contains(UInt8(ascii: ":")) {
            return true
        }
        guard let question = afterSlashes.firstIndex(of: UInt8(ascii: "?")) else { return false }
        for parameter in afterSlashes[(question + 1)...].split(separator: UInt8(ascii: "&")) {
            let key = parameter.split(separator: UInt8(ascii: "="), maxSplits: 1).first.map { percentDecoded(Array($0)) } ?? []
            if key == Array("password".utf8) { return true }
        }
        return false
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
