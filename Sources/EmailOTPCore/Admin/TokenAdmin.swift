import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPStore
import EmailOTPToken

/// Why an admin verb changed nothing.
package enum TokenAdminError: Error, Equatable, CustomStringConvertible {
    /// The user has no token.
    case noToken(String)
    /// `enroll`: the user has a token already.
    case exists(String)
    /// `enroll`: someone enrolled the user between the check and the write.
    case enrolledMeanwhile(String)
    /// `enable`: the enrolment is pending; the user's first login activates it.
    case pending(String)

    package var description: String {
        switch self {
        case .noToken(let user): return "\(user) has no token"
        case .exists(let user): return "\(user) already has a token (use set-email or set-pin, or delete it first)"
        case .enrolledMeanwhile(let user): return "\(user) was enrolled by someone else meanwhile"
        case .pending(let user): return "\(user) has a pending enrolment: the first login activates it (or delete it and enrol again)"
        }
    }
}

/// The rules of the `emailotp` verbs that change tokens, each one transaction on the store:
/// the command parses, calls one of these, and prints. Hashing (yescrypt) happens before the
/// user's lock is taken, so that logins never wait for it.
package struct TokenAdmin {
    package let store: TokenStore
    package let config: Config

    package init(store: TokenStore, config: Config) {
        self.store = store
        self.config = config
    }

    /// Throws `noToken` unless `user` has a record (a read without the lock: a verb checks
    /// before it asks for a PIN).
    package func requireToken(_ user: String) throws {
        guard try store.read(user: user) != nil else { throw TokenAdminError.noToken(user) }
    }

    /// Throws `exists` when `user` has a record already.
    package func requireNoToken(_ user: String) throws {
        guard try store.read(user: user) == nil else { throw TokenAdminError.exists(user) }
    }

    /// Creates the token, only if the user has none: an existing token is never overwritten
    /// (`email` empty: the address comes from `address_command`; `pinHash` nil: no PIN).
    /// With `pending`, the token waits for the user's first login (`TokenRecord.pending`).
    package func enroll(user: String, email: String, pinHash: String?, pending: Bool = false) throws {
        let created: Bool = try store.update(user: user) { record in
            guard record == nil else { return false }
            record = pending ? TokenRecord.pending(user: user, email: email) : TokenRecord(user: user, email: email, pinHash: pinHash)
            return true
        }
        guard created else { throw TokenAdminError.enrolledMeanwhile(user) }
    }

    /// A new PIN (`TokenRecord.replacePIN`).
    package func setPIN(user: String, pinHash: String) throws {
        try modify(user) { $0.replacePIN(pinHash) }
    }

    /// A new address; codes mailed to the old one are void, remembered hosts and cached
    /// grants go (`TokenRecord.replaceEmail`).
    package func setEmail(user: String, address: String) throws {
        try modify(user) { $0.replaceEmail(address) }
    }

    /// Logins are refused without mail; open challenges are void. A pending enrolment becomes
    /// a disabled token: the first login no longer activates it.
    package func disable(user: String) throws {
        try modify(user) { $0.disable() }
    }

    /// A pending enrolment is not enabled here: it has no PIN yet, the user's first login
    /// activates it.
    package func enable(user: String) throws {
        var wasPending = false
        try modify(user) { wasPending = !$0.enable() }
        if wasPending { throw TokenAdminError.pending(user) }
    }

    /// Clears the fail count and the lock.
    package func reset(user: String) throws {
        try modify(user) { $0.reset() }
    }

    /// Deletes the token with its challenges.
    package func delete(user: String) throws {
        let deleted: Bool = try store.update(user: user) { record in
            defer { record = nil }
            return record != nil
        }
        guard deleted else { throw TokenAdminError.noToken(user) }
    }

    /// Drops expired challenges and expired remembered hosts, and unlocks tokens whose
    /// `unlock_time` has passed, on the store's clock (the daily emailotp-purge.timer). Returns
    /// how many challenges and remembered hosts went, and the users whose mailed codes expired
    /// unused and wait for their `unanswered` alert (the caller mails it, outside the lock).
    package func purge() throws -> (challenges: Int, hosts: Int, unanswered: [String]) {
        var dropped = (challenges: 0, hosts: 0, unanswered: [String]())
        for user in try store.users() {
            let counts = try store.update(user: user) { record, now -> (Int, Int, Bool) in
                guard var r = record else { return (0, 0, false) }
                let challenges = r.challenges.count, hosts = r.remembered.count
                r.purge(now: now, config: config)
                record = r
                return (challenges - r.challenges.count, hosts - r.remembered.count, !r.unanswered.isEmpty)
            }
            dropped.challenges += counts.0
            dropped.hosts += counts.1
            if counts.2 { dropped.unanswered.append(user) }
        }
        return dropped
    }

    /// Drops every remembered host and cached grant. Returns how many of each went.
    package func forget(user: String) throws -> (hosts: Int, grants: Int) {
        var dropped = (hosts: 0, grants: 0)
        try modify(user) { dropped = $0.forgetTrust() }
        return dropped
    }

    /// `count` fresh recovery codes, replacing the previous set; only their hashes are stored,
    /// and remembered hosts and cached grants go (`TokenRecord.replaceRecoveryCodes`).
    /// Returns the codes, to be shown once.
    package func replaceRecoveryCodes(user: String, count: Int, random: RandomSource) throws -> [String] {
        try requireToken(user)
        let codes = try RecoveryCode.generate(count: count, random: random)
        let hashes = try codes.map { try RecoveryCode.hash($0, random: random) }
        try modify(user) { $0.replaceRecoveryCodes(hashes) }
        return codes
    }

    /// What `migrate` did with one user.
    package enum MigrateOutcome: Equatable {
        case copied, skipped
    }

    /// Copies the user's token from `source`, without its open challenges (their codes are
    /// hashed with the source's key), only if this store has none for the user: an existing
    /// token is never overwritten. nil: the source has no record for the user.
    package func migrate(user: String, from source: TokenStore) throws -> MigrateOutcome? {
        guard var record = try source.read(user: user) else { return nil }
        record.dropChallenges()
        let made: Bool = try store.update(user: user) { existing in
            guard existing == nil else { return false }
            existing = record
            return true
        }
        return made ? .copied : .skipped
    }

    /// Applies `change` to an existing record under the user's lock.
    func modify(_ user: String, _ change: (inout TokenRecord) -> Void) throws {
        let found: Bool = try store.update(user: user) { record in
            guard var r = record else { return false }
            change(&r)
            record = r
            return true
        }
        guard found else { throw TokenAdminError.noToken(user) }
    }
}
