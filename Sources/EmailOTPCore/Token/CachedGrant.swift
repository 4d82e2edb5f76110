import EmailOTPSystem

/// One grant remembered by `auth_cache` (pam_emailotp(8), Challenge mode): a keyed hash of user, service, remote host
/// and the password that was granted, never the password itself. Record line:
/// `auth_cache <hmac-sha256 hex> <granted> <expires>`, followed by `norhost` when the application
/// set no remote host (FreeRADIUS): such a grant is good from every client of that service.
package struct CachedGrant: Equatable {
    package var hash: String
    package var granted: Int64
    package var expires: Int64
    /// Made without `PAM_RHOST`.
    package var withoutRemoteHost: Bool

    package init(hash: String, granted: Int64, expires: Int64, withoutRemoteHost: Bool = false) {
        self.hash = hash
        self.granted = granted
        self.expires = expires
        self.withoutRemoteHost = withoutRemoteHost
    }

    /// Granting stops at `expires`, like a code's validity.
    package func isExpired(at now: Int64) -> Bool { now >= expires }

    /// The grant under the current `auth_cache`: a lower setting ends it earlier, at once.
    package func limited(to lifetime: Int64) -> CachedGrant {
        var grant = self
        grant.expires = min(expires, granted + max(lifetime, 0))
        return grant
    }

    static let keyword = "auth_cache"
    static let noRemoteHost = "norhost"

    var recordLine: String {
        "\(Self.keyword) \(hash) \(granted) \(expires)" + (withoutRemoteHost ? " \(Self.noRemoteHost)" : "")
    }

    static func parse(_ value: String, line: Int) throws -> CachedGrant {
        let parts = ByteText.split(value, at: ByteText.space).map(String.init)
        guard parts.count == 3 || (parts.count == 4 && ByteText.same(parts[3], noRemoteHost)),
              parts[0].utf8.count == 64, Hex.decode(parts[0]) != nil,
              let granted = parseInteger(parts[1], in: 0...Int64(Int32.max) * 4),
              let expires = parseInteger(parts[2], in: 0...Int64(Int32.max) * 4) else {
            throw CorruptRecord(line: line, reason: "bad auth_cache entry")
        }
        return CachedGrant(hash: parts[0], granted: granted, expires: expires, withoutRemoteHost: parts.count == 4)
    }
}
