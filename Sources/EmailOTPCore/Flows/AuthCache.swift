import EmailOTPCrypto
import EmailOTPSystem
import EmailOTPToken

/// `auth_cache` (pam_emailotp(8), Challenge mode): after PIN + code was granted in challenge mode, the same password for
/// the same user, service and remote host keeps being granted until `auth_cache` seconds after
/// that first grant, `auth_cache` as it is set at each use (a lower value ends grants at once). IMAP clients open several connections, OpenVPN re-sends the password at
/// every renegotiation, browsers re-send Basic credentials on every request.
public struct GrantHasher {
    let key: [UInt8]

    /// HMAC-SHA-256 under the store's key; NUL separates the fields (none of them can hold one).
    /// With `host` (`Config.grantHost`) the grant serves that host only.
    public func hash(user: String, service: String, rhost: String, password: String, host: String? = nil) throws -> String {
        let scope = host.map { "auth_cache-on-host\u{0}\($0)\u{0}" } ?? "auth_cache\u{0}"
        let message = Array("\(scope)\(user)\u{0}\(service)\u{0}\(rhost)\u{0}\(password)".utf8)
        return Hex.encode(try Digest.hmacSHA256(key: key, message: message))
    }
}

extension Authenticator {
    func grantHash(user: String, password: String, key: [UInt8]? = nil) throws -> String {
        try GrantHasher(key: try key ?? store.codeKey()).hash(user: user, service: context.service,
                                                       rhost: context.rhost, password: password, host: config.grantHost)
    }
}

extension ChallengeFlow {
    /// Remembers a granted PIN + code for `auth_cache` seconds. A failure here costs only the
    /// cache: the grant stands.
    func rememberGrant(user: String, password: String) {
        guard auth.config.authCache > 0 else { return }
        let lifetime = auth.config.authCache
        do {
            let hash = try auth.grantHash(user: user, password: password)
            let anyHost = auth.context.rhost.isEmpty
            // The store's time, like every other decision: a fleet's hosts share one clock.
            try auth.store.update(user: user) { record, now in
                record?.rememberGrant(hash, at: now, lifetime: lifetime, withoutRemoteHost: anyHost)
            }
        } catch {
            auth.log(.error, user, "auth_cache not written: \(error)")
        }
    }
}
