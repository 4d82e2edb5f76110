import EmailOTPConfig

/// The rules of one token, as pure functions of a record and the time; the flows, the admin
/// verbs and a user's own verbs apply them under the store's per-user lock. Every change to a
/// `TokenRecord` is one of these rules or those beside them: the lockout rule (Lockout.swift),
/// challenges and the charge of an attempt (Challenges.swift, Charge.swift), the hourly mail
/// quotas (MailQuota.swift), remembered hosts, recent hosts and cached grants (Trust.swift),
/// unanswered codes (Unanswered.swift).
extension TokenRecord {
    /// Unlocks what `unlock_time` unlocks (`unlockIfDue`), drops expired challenges (noting the
    /// unanswered ones for their alert, `noteUnanswered`), mail times older than an hour and
    /// cached grants past `auth_cache`.
    package mutating func refresh(now: Int64, config: Config) {
        unlockIfDue(now: now, config: config)
        noteUnanswered(now: now, config: config)
        challenges.removeAll { $0.isExpired(at: now) }
        HourlyWindow.keepLastHour(&mails, now: now)
        // auth_cache as it is set now, not as it was at the grant (0 drops every grant).
        cachedGrants = cachedGrants.map { $0.limited(to: config.authCache) }.filter { !$0.isExpired(at: now) }
    }

    /// `refresh`, and the remembered hosts whose time has passed go too (a login checks their
    /// expiry itself): the record as `emailotp purge` writes it and `show` and `status` show it.
    package mutating func purge(now: Int64, config: Config) {
        refresh(now: now, config: config)
        dropExpiredHosts(now: now)
    }

    /// Whether an attempt may use this record: an enabled token for a login, a pending one
    /// (and nothing else) for an enrolment.
    package func admits(enrolling: Bool) -> Bool {
        enrolling ? pending : enabled
    }

    /// `emailotp disable`: logins are refused without mail; open challenges are void. A pending
    /// enrolment becomes a disabled token: the first login no longer activates it.
    package mutating func disable() {
        enabled = false
        pending = false
        challenges.removeAll()
    }

    /// `emailotp enable`; a pending enrolment is not enabled (it has no PIN yet, the user's
    /// first login activates it): false then, and nothing changes.
    package mutating func enable() -> Bool {
        guard !pending else { return false }
        enabled = true
        return true
    }

    /// The token as `emailotp migrate` copies it: without its open challenges (their codes are
    /// hashed with the source store's key).
    package mutating func dropChallenges() {
        challenges.removeAll()
    }

    /// A new address (`emailotp set-email`): the open challenges were mailed to the old one and
    /// are void, and the remembered hosts and cached grants go with them: they were earned
    /// through the old mailbox, perhaps by whoever made the address change necessary.
    package mutating func replaceEmail(_ address: String) {
        email = address
        challenges.removeAll()
        forgetTrust()
    }

    /// A new PIN (`emailotp set-pin`, root's or the user's own): grants cached under the old
    /// PIN must not outlive it.
    package mutating func replacePIN(_ hash: String) {
        pinHash = hash
        cachedGrants = []
    }

    /// A new set of recovery codes (`emailotp recovery-codes`), replacing the old set: as after
    /// a lost device, every remembered host and cached grant goes too.
    package mutating func replaceRecoveryCodes(_ hashes: [String]) {
        recoveryHashes = hashes
        forgetTrust()
    }
}
