import EmailOTPConfig
import EmailOTPCrypto

/// What a token trusts without a code, and what it remembers of where its user logs in from:
/// remembered hosts (`remember`), recent remote hosts (`new_host`) and cached grants
/// (`auth_cache`), emailotp.conf(5). Each is kept by id, a keyed hash the flows compute
/// (`HostKey`, `GrantHasher`): never a host name or a password.
extension TokenRecord {
    /// At most this many remembered hosts are kept per user; the oldest go first.
    package static let maxRememberedHosts = 10
    /// At most this many recent remote hosts are kept per user.
    package static let maxRecentHosts = 10
    /// At most this many grants are remembered per user; the oldest go first.
    package static let maxCachedGrants = 20

    // MARK: remembered hosts

    /// Trusts `id` until `now + seconds`: an older entry of the same id is replaced, expired
    /// ones go, and only the newest `maxRememberedHosts` stay.
    package mutating func remember(_ id: String, now: Int64, seconds: Int64) {
        remembered.removeAll { $0.id == id || $0.isExpired(at: now) }
        remembered.append(RememberedHost(id: id, created: now, expires: now + seconds))
        remembered.sort { $0.created < $1.created }
        if remembered.count > Self.maxRememberedHosts { remembered.removeFirst(remembered.count - Self.maxRememberedHosts) }
    }

    package func isRemembered(_ id: String, now: Int64) -> Bool {
        remembered.contains { $0.id == id && !$0.isExpired(at: now) }
    }

    /// A login from the remembered host `id` with pin=none: granted without mail or code when
    /// the host is remembered and the token (after `refresh`) is enabled and not locked for
    /// `source`, which clears the login's failures. False: nothing granted, the record is as
    /// the caller must not write it.
    package mutating func grantRemembered(_ id: String, now: Int64, config: Config, source: String?) -> Bool {
        guard isRemembered(id, now: now) else { return false }
        refresh(now: now, config: config)
        guard enabled, !isBlocked(source: source) else { return false }
        registerSuccess(source: source)
        return true
    }

    /// Drops the remembered hosts whose time has passed.
    package mutating func dropExpiredHosts(now: Int64) {
        remembered.removeAll { $0.isExpired(at: now) }
    }

    // MARK: recent hosts

    /// Moves `id` to the newest place of the recent hosts; true when it was not among them.
    @discardableResult
    package mutating func noteHost(_ id: String) -> Bool {
        let isNew = !recentHosts.contains(id)
        recentHosts.removeAll { $0 == id }
        recentHosts.append(id)
        if recentHosts.count > Self.maxRecentHosts { recentHosts.removeFirst(recentHosts.count - Self.maxRecentHosts) }
        return isNew
    }

    // MARK: cached grants

    /// Whether an unexpired cached grant has `hash`. Every entry is compared, in constant time.
    package func hasCachedGrant(_ hash: String, at now: Int64) -> Bool {
        var found = false
        for grant in cachedGrants where !grant.isExpired(at: now) {
            if Digest.constantTimeEqual(Array(grant.hash.utf8), Array(hash.utf8)) { found = true }
        }
        return found
    }

    /// Remembers a grant until `now + lifetime`. A password already remembered keeps its first
    /// expiry: the cache runs from the first grant, re-use does not stretch it.
    package mutating func rememberGrant(_ hash: String, at now: Int64, lifetime: Int64, withoutRemoteHost: Bool = false) {
        cachedGrants = cachedGrants.map { $0.limited(to: lifetime) }.filter { !$0.isExpired(at: now) }
        guard !hasCachedGrant(hash, at: now) else { return }
        cachedGrants.sort { $0.granted < $1.granted }
        while cachedGrants.count >= Self.maxCachedGrants { cachedGrants.removeFirst() }
        cachedGrants.append(CachedGrant(hash: hash, granted: now, expires: now + lifetime,
                                        withoutRemoteHost: withoutRemoteHost))
    }

    // MARK: all of them

    /// Drops every remembered host and cached grant (`emailotp forget`); returns how many.
    @discardableResult
    package mutating func forgetTrust() -> (hosts: Int, grants: Int) {
        let dropped = (remembered.count, cachedGrants.count)
        remembered.removeAll()
        cachedGrants.removeAll()
        return dropped
    }
}
