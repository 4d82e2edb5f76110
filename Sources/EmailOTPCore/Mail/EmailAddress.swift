/// Mail addresses: what we accept, and how we show them to a user.
public enum EmailAddress {
    static let localSpecials = Set("!#$%&'*+/=?^_`{|}~.-".unicodeScalars)

    /// A plain `local@domain` address in ASCII: no display name, no quoting, no spaces, no
    /// control characters, so it can go into a header and an SMTP command as it is.
    public static func isValid(_ address: String) -> Bool {
        guard address.utf8.count <= 254, !address.hasControlCharacters else { return false }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let local = parts[0], domain = parts[1]
        guard !local.isEmpty, local.utf8.count <= 64, !local.hasPrefix("."), !local.hasSuffix("."),
              !local.contains(".."),
              local.unicodeScalars.allSatisfy({ isAlphanumeric($0) || localSpecials.contains($0) }) else { return false }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard !domain.isEmpty, domain.utf8.count <= 253 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.unicodeScalars.allSatisfy { isAlphanumeric($0) || $0 == "-" }
        }
    }

    /// `alice@example.com` → `a***@e******.com`.
    public static func masked(_ address: String) -> String {
        let parts = address.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let localFirst = parts[0].first else { return "***" }
        let domain = parts[1]
        var maskedDomain = ""
        if let dot = domain.lastIndex(of: ".") {
            let name = domain[domain.startIndex..<dot]
            let tld = domain[dot...]
            maskedDomain = (name.first.map { String($0) } ?? "") + String(repeating: "*", count: max(0, name.count - 1)) + tld
        } else {
            maskedDomain = (domain.first.map { String($0) } ?? "") + String(repeating: "*", count: max(0, domain.count - 1))
        }
        return "\(localFirst)***@\(maskedDomain)"
    }

    static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": return true
        default: return false
        }
    }
}
