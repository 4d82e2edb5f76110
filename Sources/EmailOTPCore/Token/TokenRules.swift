import EmailOTPConfig

/// The rules of one token, as pure functions of a record and the time; the flows apply them
/// under the store's per-user lock.
extension TokenRecord {
    /// Unlocks a token whose `unlock_time` has passed, drops expired challenges and mail
    /// times older than an hour.
    public mutating func refresh(now: Int64, config: Config) {
        if lockedAt != 0 && config.unlockTime > 0 && now >= lockedAt + config.unlockTime {
            lockedAt = 0
            failCount = 0
        }
        challenges.removeAll { $0.isExpired(at: now) }
        mails.removeAll { $0 <= now - 3600 || $0 > now + 3600 }
        // auth_cache as it is set now, not as it was at the grant (0 drops every grant).
        cachedGrants = cachedGrants.map { $0.limited(to: config.authCache) }.filter { !$0.isExpired(at: now) }
    }

    public var isLocked: Bool { lockedAt != 0 }

    /// Counts a wrong PIN or code; `max_fail` consecutive ones lock the token. Locking voids
    /// the open challenges: a code mailed before the lock must not work after a reset. With
    /// `lock` false the failure is counted and the lock left to `lockIfDue`.
    public mutating func registerFailure(now: Int64, config: Config, lock: Bool = true) {
        if failCount < 1_000_000 { failCount += 1 }
        if lock && failCount >= config.maxFail && lockedAt == 0 {
            lockedAt = max(now, 1)
            challenges.removeAll()
        }
    }

    /// A granted login clears the failures.
    public mutating func registerSuccess() {
        failCount = 0
        lockedAt = 0
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
