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
    /// The id of a remembered (user, service, remote host), on `host` when given
    /// (`Config.grantHost`): then a host of the fleet does not honour another's.
    public static func remembered(key: [UInt8], user: String, service: String, rhost: String, host: String? = nil) throws -> String {
        let scope = host.map { "remember-on-host\0\($0)\0" } ?? "remember\0"
        return Hex.encode(try Digest.hmacSHA256(key: key, message: Array("\(scope)\(user)\0\(service)\0\(rhost)".utf8)))
    }

    /// The id of the source failures are counted for (Token/Lockout.swift): the remote host,
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

extension Authenticator {
    /// The id of this request's (user, service, remote host) when `remember` is on and the
    /// service set a remote host; nil otherwise.
    /// `key`: the store's code key when the caller read it already.
    func rememberedHostID(user: String, key: [UInt8]? = nil) throws -> String? {
        guard config.remember > 0, !context.rhost.isEmpty else { return nil }
        return try HostKey.remembered(key: try key ?? store.codeKey(), user: user, service: context.service, rhost: context.rhost,
                                      host: config.grantHost)
    }

    /// This request's source (`HostKey.source`).
    func sourceID(user: String, key: [UInt8]? = nil) throws -> String {
        try HostKey.source(key: try key ?? store.codeKey(), user: user, context: context)
    }

    /// The line of a login granted without a code: from a remembered remote host, or with
    /// `trustedNetwork` after a right PIN from a remote host in `trusted_networks`.
    func logRememberedGrant(user: String, trustedNetwork: Bool) {
        log(.notice, user, trustedNetwork ? "granted: PIN from a remote host in trusted_networks, no code asked"
            : "granted: remembered remote host, no code asked")
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
            let rememberedID = try HostKey.remembered(key: key, user: user, service: context.service, rhost: context.rhost,
                                                      host: config.grantHost)
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

extension ChallengeFlow {
    /// With pin=none: true when this request comes from a remembered (service, remote host) of
    /// the user and may skip mail and code (the token enabled and unlocked). Nothing typed is
    /// compared here; with pin=token the remembered host is checked by `attempt`, after the PIN.
    func rememberedLogin(user: String) -> Bool {
        do {
            guard let id = try auth.rememberedHostID(user: user) else { return false }
            let source = try auth.sourceID(user: user)
            // The store's time, under the user's lock: a host clock cannot stretch the window.
            var unanswered = false
            let granted: Bool = try auth.store.update(user: user) { record, now in
                guard var r = record, r.grantRemembered(id, now: now, config: auth.config, source: source) else { return false }
                unanswered = !r.unanswered.isEmpty
                record = r
                return true
            }
            if granted { auth.logRememberedGrant(user: user, trustedNetwork: false) }
            if granted && unanswered { auth.alertUnanswered(user: user) }
            return granted
        } catch {
            auth.log(.error, user, "store error: \(error)")
            return false
        }
    }
}
