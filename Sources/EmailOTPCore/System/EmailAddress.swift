/// Mail addresses: what we accept, and how we show them to a user.
package enum EmailAddress {
    static let localSpecials = Set("!#$%&'*+/=?^_`{|}~.-".unicodeScalars)

    /// A plain `local@domain` address in ASCII: no display name, no quoting, no spaces, no
    /// control characters, so it can go into a header and an SMTP command as it is.
    package static func isValid(_ address: String) -> Bool {
        guard address.utf8.count <= 254, !address.hasControlCharacters else { return false }
        let parts = ByteText.split(address, at: 0x40)
        guard parts.count == 2 else { return false }
        let local = parts[0], domain = parts[1]
        guard !local.isEmpty, local.utf8.count <= 64, local.utf8.first != 0x2E, local.utf8.last != 0x2E,
              !zip(local.utf8, local.utf8.dropFirst()).contains(where: { $0 == 0x2E && $1 == 0x2E }),
              local.unicodeScalars.allSatisfy({ isAlphanumeric($0) || localSpecials.contains($0) }) else { return false }
        let labels = ByteText.split(domain, at: 0x2E)
        guard !domain.isEmpty, domain.utf8.count <= 253 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.utf8.first != 0x2D && label.utf8.last != 0x2D
                && label.unicodeScalars.allSatisfy { isAlphanumeric($0) || $0 == "-" }
        }
    }

    /// `alice@example.com` → `a***@e******.com`. Counts scalars (a valid address is ASCII, so
    /// these are its bytes); never splits a scalar.
    package static func masked(_ address: String) -> String {
        let parts = ByteText.split(address, at: 0x40, maxSplits: 1)
        guard parts.count == 2, let localFirst = parts[0].unicodeScalars.first else { return "***" }
        let domain = parts[1]
        let labels = ByteText.split(domain, at: 0x2E)
        // The name is everything before the last dot; the last label (the TLD) stays visible.
        let name = labels.count > 1 ? domain.unicodeScalars.dropLast(labels[labels.count - 1].unicodeScalars.count + 1) : domain.unicodeScalars[...]
        let tld = labels.count > 1 ? "." + labels[labels.count - 1] : ""
        let maskedName = (name.first.map { String($0) } ?? "") + String(repeating: "*", count: max(0, name.count - 1))
        return "\(localFirst)***@\(maskedName)\(tld)"
    }

    package static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": return true
        default: return false
        }
    }
}
