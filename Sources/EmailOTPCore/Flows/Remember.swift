import EmailOTPCrypto
import EmailOTPSystem
import EmailOTPToken

/// Remembered hosts (`remember`, emailotp.conf(5)) and the user's recent remote hosts (`new_host`).
///
/// Both are kept as keyed hashes (HMAC-SHA-256 under the store's code key) of the user, the
/// service and the remote host: the store never says where a user logs in from, and a hash
/// cannot be moved to another user or service. `emailotp show` therefore lists ids and times,
/// not host names.
public enum HostKey {
    public static let maxRemembered = 10
    public static let maxRecent = 10

    /// The id of a remembered (user, service, remote host).
    public static func remembered(key: [UInt8], user: String, service: String, rhost: String) throws -> String {
        Hex.encode(try Digest.hmacSHA256(key: key, message: Array("remember\0\(user)\0\(service)\0\(rhost)".utf8)))
    }

    /// The id of the source failures are counted for (SourceThrottle.swift): the remote host,
    /// or for a local login the terminal and the calling user.
    public static func source(key: [UInt8], user: String, context: RequestContext) throws -> String {
        let place = context.rhost.isEmpty ? "local\0\(context.tty)\0\(context.ruser)" : "remote\0\(context.rhost)"
        return Hex.encode(try Digest.hmacSHA256(key: key, message: Array("source\0\(user)\0\(place)".utf8)))
    }

    /// The id of a remote host among the user's recent ones (any service).
    public static func recent(key: [UInt8], user: String, rhost: String) throws -> String {
        Hex.encode(try Digest.hmacSHA256(key: key, message: Array("host\0\(user)\0\(rhost)".utf8)))
    }
}

extension TokenRecord {
    /// Trusts `id` until `now + seconds`: an older entry of the same id is replaced, expired
    /// ones go, and only the newest `HostKey.maxRemembered` stay.
    public mutating func remember(_ id: String, now: Int64, seconds: Int64) {
        remembered.removeAll { $0.id == id || $0.isExpired(at: now) }
        remembered.append(RememberedHost(id: id, created: now, expires: now + seconds))
        remembered.sort { $0.created < $1.created }
        if remembered.count > HostKey.maxRemembered { remembered.removeFirst(remembered.count - HostKey.maxRemembered) }
    }

    public func isRemembered(_ id: String, now: Int64) -> Bool {
        remembered.contains { $0.id == id && !$0.isExpired(at: now) }
    }

    /// Moves `id` to the newest place of the recent hosts; true when it was not among them.
    @discardableResult
    public mutating func noteHost(_ id: String) -> Bool {
        let isNew = !recentHosts.contains(id)
        recentHosts.removeAll { $0 == id }
        recentHosts.append(id)
        if recentHosts.count > HostKey.maxRecent { recentHosts.removeFirst(recentHosts.count - HostKey.maxRecent) }
        return isNew
    }
}

extension Authenticator {
    /// The id of this request's (user, service, remote host) when `remember` is on and the
    /// service set a remote host; nil otherwise.
    func rememberedHostID(user: String) throws -> String? {
        guard config.remember > 0, !context.rhost.isEmpty else { return nil }
        return try HostKey.remembered(key: try store.codeKey(), user: user, service: context.service, rhost: context.rhost)
    }

    /// This request's source (`HostKey.source`).
    func sourceID(user: String) throws -> String {
        try HostKey.source(key: try store.codeKey(), user: user, context: context)
    }

    /// With pin=none: true when this request comes from a remembered (service, remote host) of
    /// the user and may skip mail and code (the token enabled and unlocked). Nothing typed is
    /// compared here; with pin=token the remembered host is checked by `attempt`, after the PIN.
    func rememberedLogin(user: String) -> Bool {
        do {
            guard let id = try rememberedHostID(user: user) else { return false }
            let source = try sourceID(user: user)
            // The store's time, under the user's lock: a host clock cannot stretch the window.
            var unanswered = false
            let granted: Bool = try store.update(user: user) { record, now in
                guard var r = record, r.isRemembered(id, now: now) else { return false }
                r.refresh(now: now, config: config)
                unanswered = !r.unanswered.isEmpty
                guard r.enabled, !r.isBlocked(source: source) else { return false }
                r.registerSuccess(source: source)
                record = r
                return true
            }
            if granted { log(.notice, user, "granted: remembered remote host, no code asked") }
            if granted && unanswered { alertUnanswered(user: user) }
            return granted
        } catch {
            log(.error, user, "store error: \(error)")
            return false
        }
    }

    /// After a login with a code (mailed or recovery): the recovery notice and alert, the
    /// remembered host (not after a recovery code), the recent hosts and the `new_host` alert. Never changes the result:
    /// failures are logged only.
    func granted(user: String, outcome: VerifyOutcome) {
        if case .recovered(let left) = outcome {
            log(.notice, user, "recovery code used, \(left) left")
            if config.notify.contains(.recovery) { alert(.recovery(left: left), user: user) }
        }
        guard !context.rhost.isEmpty else { return }
        // A recovery code is for a lost mailbox: the host it logs in from is not remembered.
        let remember = config.remember > 0 && !outcome.isRecovery
        let watch = config.notify.contains(.newHost)
        guard remember || watch else { return }
        do {
            let key = try store.codeKey()
            let rememberedID = try HostKey.remembered(key: key, user: user, service: context.service, rhost: context.rhost)
            let recentID = try HostKey.recent(key: key, user: user, rhost: context.rhost)
            let isNew: Bool = try store.update(user: user) { record, now in
                guard var r = record else { return false }
                if remember { r.remember(rememberedID, now: now, seconds: config.remember) }
                let isNew = watch ? r.noteHost(recentID) : false
                record = r
                return isNew
            }
            if isNew { alert(.newHost, user: user) }
        } catch {
            log(.error, user, "could not note the remote host: \(error)")
        }
    }
}
