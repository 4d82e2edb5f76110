import EmailOTPConfig

/// The rules of one token, as pure functions of a record and the time; the flows apply them
/// under the store's per-user lock.
extension TokenRecord {
    /// Unlocks a token whose `unlock_time` has passed, drops expired challenges (noting the
    /// unanswered ones for their alert, `noteUnanswered`) and mail times older than an hour.
    public mutating func refresh(now: Int64, config: Config) {
        if lockedAt != 0 && config.unlockTime > 0 && now >= lockedAt + config.unlockTime {
            lockedAt = 0
            failCount = 0
        }
        noteUnanswered(now: now, config: config)
        challenges.removeAll { $0.isExpired(at: now) }
        expireSources(now: now, config: config)
        mails.removeAll { $0 <= now - 3600 || $0 > now + 3600 }
        // auth_cache as it is set now, not as it was at the grant (0 drops every grant).
        cachedGrants = cachedGrants.map { $0.limited(to: config.authCache) }.filter { !$0.isExpired(at: now) }
    }

    public var isLocked: Bool { lockedAt != 0 }

    /// Counts a wrong PIN or code, for the user and for `source` (SourceThrottle.swift):
    /// `max_fail_source` consecutive ones lock the source, `max_fail` the token. Locking the
    /// token voids the open challenges: a code mailed before the lock must not work after a
    /// reset. With `lock` false the failure is counted and the lock left to `lockIfDue`.
    public mutating func registerFailure(now: Int64, config: Config, lock: Bool = true, source: String? = nil) {
        if failCount < 1_000_000 { failCount += 1 }
        if let id = source { countSourceFailure(id, now: now, config: config, lock: lock) }
        if lock && failCount >= config.maxFail && lockedAt == 0 {
            lockedAt = max(now, 1)
            challenges.removeAll()
        }
    }

    /// A granted login clears the user's failures and those of its `source`; other sources
    /// keep theirs (and their locks) until `unlock_time`.
    public mutating func registerSuccess(source: String? = nil) {
        failCount = 0
        lockedAt = 0
        if let id = source { sources.removeAll { $0.id == id } }
    }

    /// The newest open challenge.
    public var newestChallenge: Challenge? {
        challenges.max { $0.created < $1.created }
    }

    /// Adds a challenge: with concurrent challenges the oldest beyond `max_open_challenges` go,
    /// without them every older challenge is voided.
    public mutating func open(_ challenge: Challenge, config: Config) {
        if config.concurrentChallenges {
            challenges.sort { $0.created < $1.created }
            while challenges.count >= config.maxOpenChallenges { challenges.removeFirst() }
        } else {
            challenges.removeAll()
        }
        challenges.append(challenge)
    }

    /// Drops every remembered host and cached grant (`emailotp forget`); returns how many.
    @discardableResult
    public mutating func forgetTrust() -> (hosts: Int, grants: Int) {
        let dropped = (remembered.count, cachedGrants.count)
        remembered.removeAll()
        cachedGrants.removeAll()
        return dropped
    }

    /// A new address (`emailotp set-email`): the open challenges were mailed to the old one and
    /// are void, and the remembered hosts and cached grants go with them: they were earned
    /// through the old mailbox, perhaps by whoever made the address change necessary.
    public mutating func replaceEmail(_ address: String) {
        email = address
        challenges.removeAll()
        forgetTrust()
    }

    /// A new set of recovery codes (`emailotp recovery-codes`), replacing the old set: as after
    /// a lost device, every remembered host and cached grant goes too.
    /// A new PIN (`emailotp set-pin`, root's or the user's own): grants cached under the old
    /// PIN must not outlive it.
    public mutating func replacePIN(_ hash: String) {
        pinHash = hash
        cachedGrants = []
    }

    public mutating func replaceRecoveryCodes(_ hashes: [String]) {
        recoveryHashes = hashes
        forgetTrust()
    }
}
