import EmailOTPSystem
import Glibc

/// `groups` (emailotp.conf(5)): who is asked for a code. Empty asks everyone; otherwise a user is
/// asked when in one of `included` (or `included` is empty) and in none of `excluded`.
package struct GroupRule: Equatable {
    package var included: [String] = []
    package var excluded: [String] = []

    package init(included: [String] = [], excluded: [String] = []) {
        self.included = included
        self.excluded = excluded
    }

    package var isEmpty: Bool { included.isEmpty && excluded.isEmpty }

    /// `admins, !contractors`: names separated by commas, `!` in front of an excluded one.
    package static func parse(_ value: String) throws -> GroupRule {
        var rule = GroupRule()
        let trimmed = value.trimmedBlanks
        if trimmed.isEmpty { return rule }
        for item in ByteText.split(trimmed, at: 0x2C) {
            var name = String(item).trimmedBlanks
            let excluded = ByteText.hasPrefix(name, "!")
            if excluded { name = String(decoding: name.utf8.dropFirst(), as: UTF8.self) }
            name = name.trimmedBlanks
            guard isGroupName(name) else {
                throw ConfigError("groups: \"\(LogText.printable(String(item)))\" is not a group name (names, or !name to exclude, separated by commas)")
            }
            if excluded {
                if !rule.excluded.contains(name) { rule.excluded.append(name) }
            } else if !rule.included.contains(name) {
                rule.included.append(name)
            }
        }
        return rule
    }

    /// A name as NSS may spell it: directory groups (`Domain Admins`, `admins@example.com`) are
    /// not bound to useradd's rule; no control character, comma or colon, at most 256 bytes.
    static func isGroupName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 256 && !name.hasControlCharacters
            && !name.utf8.contains(0x2C) && !name.utf8.contains(0x3A) && !ByteText.hasPrefix(name, "!")
    }

    /// True when a user in `memberOf` is asked; `memberOf` answers for one group name.
    package func asks(memberOf: (String) -> Bool) -> Bool {
        if excluded.contains(where: memberOf) { return false }
        return included.isEmpty || included.contains(where: memberOf)
    }

    /// The rule as emailotp.conf writes it.
    package var text: String {
        (included + excluded.map { "!\($0)" }).joined(separator: ",")
    }
}

/// One network of `trusted_networks`: an address (4 or 16 bytes) and a prefix length.
package struct Network: Equatable {
    package let address: [UInt8]
    package let prefix: Int

    /// `192.0.2.0/24`, `2001:db8::/32`, or one address (a full-length prefix). Host bits must be
    /// zero, so that a typing error (`10.0.0.1/8`) is not read as a wider network than meant.
    package static func parse(_ text: String) throws -> Network {
        let parts = ByteText.split(text, at: 0x2F, maxSplits: 1).map(String.init)
        guard let address = literalAddress(parts[0]) else {
            throw ConfigError("trusted_networks: \"\(LogText.printable(text))\" is not an IPv4 or IPv6 network in CIDR form (host names are not accepted)")
        }
        let bits = address.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard let parsed = parseInteger(parts[1], in: 0...Int64(bits)) else {
                throw ConfigError("trusted_networks: \"\(LogText.printable(text))\": the prefix length must be a whole number from 0 to \(bits)")
            }
            prefix = Int(parsed)
        }
        let network = Network(address: address, prefix: prefix)
        guard network.masked(address) == address else {
            throw ConfigError("trusted_networks: \"\(LogText.printable(text))\" has bits set after the /\(prefix) prefix")
        }
        return network
    }

    init(address: [UInt8], prefix: Int) {
        self.address = address
        self.prefix = prefix
    }

    /// `bytes` with every bit after the prefix cleared.
    func masked(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        for index in out.indices {
            let keep = min(max(prefix - index * 8, 0), 8)
            out[index] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
        return out
    }

    /// True when `bytes` (an address of the same family) lies inside.
    package func contains(_ bytes: [UInt8]) -> Bool {
        bytes.count == address.count && masked(bytes) == address
    }

    package var text: String {
        "\(Network.format(address))/\(prefix)"
    }

    /// `inet_pton(3)` only: a literal IPv4 or IPv6 address, never a name (nothing is resolved).
    /// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is read as the IPv4 address.
    package static func literalAddress(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count < 64, !text.hasControlCharacters else { return nil }
        return IPAddress.parse(text)
    }

    static func format(_ bytes: [UInt8]) -> String {
        IPAddress.format(bytes)
    }
}

/// `trusted_networks` (emailotp.conf(5)).
package struct TrustedNetworks: Equatable {
    package var networks: [Network] = []

    package init(_ networks: [Network] = []) {
        self.networks = networks
    }

    package var isEmpty: Bool { networks.isEmpty }

    package static func parse(_ value: String) throws -> TrustedNetworks {
        var list = TrustedNetworks()
        let trimmed = value.trimmedBlanks
        if trimmed.isEmpty || ByteText.same(trimmed, "none") { return list }
        for item in ByteText.split(trimmed, at: 0x2C) {
            let text = String(item).trimmedBlanks
            guard !text.isEmpty else { throw ConfigError("trusted_networks: an empty entry between commas") }
            list.networks.append(try Network.parse(text))
        }
        return list
    }

    /// True only when `rhost` is a literal address inside one of the networks. A host name
    /// never matches (it is not resolved: reverse DNS can be forged), nor does an empty one.
    package func contains(rhost: String) -> Bool {
        guard !networks.isEmpty, let bytes = Network.literalAddress(rhost) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// A network that holds every address of its family (`0.0.0.0/0`, `::/0`).
    package var trustsEverything: Bool { networks.contains { $0.prefix == 0 } }

    package var text: String { networks.map(\.text).joined(separator: ",") }
}
