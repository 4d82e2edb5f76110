import EmailOTPConfig
import EmailOTPSystem

/// The failures of one source of a user's logins (the remote host, or the terminal and calling
/// user of a local login), kept as a keyed hash of the source, never the source itself.
package struct SourceFailures: Equatable {
    package var id: String
    /// Consecutive failures from this source.
    package var count: Int
    /// The time of the last failure.
    package var last: Int64
    /// When this source locked (`max_fail_source`); 0 = not locked.
    package var lockedAt: Int64

    package init(id: String, count: Int, last: Int64, lockedAt: Int64 = 0) {
        self.id = id
        self.count = count
        self.last = last
        self.lockedAt = lockedAt
    }

    package var isLocked: Bool { lockedAt != 0 }
}

/// The lockout rule, the one every path uses (pam_emailotp(8), NOTES; emailotp.conf(5),
/// max_fail, max_fail_source, unlock_time): a failure counts for the user and for its source.
/// `max_fail_source` consecutive failures lock that source only; `max_fail` (far higher) lock
/// the token for every source, and void its open challenges. So wrong answers from one place
/// cannot lock the user out of another, and guessing from many places still ends at the
/// user-wide lock. A right answer clears the user's failures and its source's; `unlock_time`
/// after the lock (never when it is 0) the token unlocks itself (`unlockIfDue`, from
/// `refresh`), and an administrator's `reset` clears everything. The sources are kept bounded:
/// at most `maxSources` entries, each gone once `unlock_time` (a day when it is 0) has passed
/// since its last failure or its lock.
///
/// Every change to the counts and locks is made here; the flows charge, refund and settle
/// through these functions only (Charge.swift, and `lockIfDue` for deferred misses).
extension TokenRecord {
    package static let maxSources = 20

    package var isLocked: Bool { lockedAt != 0 }

    /// True when this request may not be answered: the token is locked, or `source` is.
    package func isBlocked(source: String?) -> Bool {
        isLocked || (source.map { id in sources.contains { $0.id == id && $0.isLocked } } ?? false)
    }

    /// The sources locked now.
    package var lockedSources: Int { sources.filter(\.isLocked).count }

    /// Counts a wrong PIN or code, for the user and for `source`, and locks what reached its
    /// limit (`lockIfDue`). With `lock` false the failure is counted and the lock left to a
    /// later `lockIfDue` (a deferred miss: it may yet be refunded).
    package mutating func registerFailure(now: Int64, config: Config, lock: Bool = true, source: String? = nil) {
        if failCount < 1_000_000 { failCount += 1 }
        if let id = source { countSourceFailure(id, now: now) }
        if lock { lockIfDue(now: now, config: config, source: source) }
    }

    /// Locks the token when its failures, less `pending` about to be refunded, reached
    /// `max_fail` — voiding the open challenges: a code mailed before the lock must not work
    /// after a reset —, and `source` when its own reached `max_fail_source`.
    package mutating func lockIfDue(now: Int64, config: Config, pending: Int = 0, source: String? = nil) {
        if lockedAt == 0 && failCount - pending >= config.maxFail {
            lockedAt = max(now, 1)
            challenges.removeAll()
        }
        lockSourceIfDue(source, now: now, config: config, pending: pending)
    }

    /// A granted login clears the user's failures and those of its `source`; other sources
    /// keep theirs (and their locks) until `unlock_time`.
    package mutating func registerSuccess(source: String? = nil) {
        failCount = 0
        lockedAt = 0
        if let id = source { sources.removeAll { $0.id == id } }
    }

    /// An administrator's reset (`emailotp reset`): the user's failures and lock, and every
    /// source's.
    package mutating func reset() {
        registerSuccess()
        sources.removeAll()
    }

    /// Gives `misses` failures back, the user's and `source`'s (a right answer refunds its
    /// charge, and the deferred misses a right PIN settles).
    package mutating func refund(_ misses: Int, source: String?) {
        guard misses > 0 else { return }
        failCount = max(0, failCount - misses)
        for _ in 0..<min(misses, 1_000_000) { refundSourceFailure(source) }
    }

    /// Unlocks a token whose `unlock_time` has passed, and unlocks and forgets the sources
    /// whose time has passed (`refresh`).
    mutating func unlockIfDue(now: Int64, config: Config) {
        if lockedAt != 0 && config.unlockTime > 0 && now >= lockedAt + config.unlockTime {
            lockedAt = 0
            failCount = 0
        }
        let window = config.unlockTime > 0 ? config.unlockTime : 86400
        sources.removeAll { entry in
            if entry.isLocked { return config.unlockTime > 0 && now >= entry.lockedAt + config.unlockTime }
            return now >= entry.last + window || entry.last > now + 3600
        }
    }

    /// Counts one failure of `source` (locking is `lockSourceIfDue`'s).
    mutating func countSourceFailure(_ id: String, now: Int64) {
        if let index = sources.firstIndex(where: { $0.id == id }) {
            if sources[index].count < 1_000_000 { sources[index].count += 1 }
            sources[index].last = now
        } else {
            sources.append(SourceFailures(id: id, count: 1, last: now))
            if sources.count > Self.maxSources {
                // The oldest unlocked entry goes first; a locked one only when all are.
                let victims = sources.indices.filter { !sources[$0].isLocked && sources[$0].id != id }
                let pool = victims.isEmpty ? sources.indices.filter { sources[$0].id != id } : victims
                if let oldest = pool.min(by: { sources[$0].last < sources[$1].last }) { sources.remove(at: oldest) }
            }
        }
    }

    /// Locks `source` when its failures, less `pending` about to be refunded, reached `max_fail_source`.
    mutating func lockSourceIfDue(_ id: String?, now: Int64, config: Config, pending: Int = 0) {
        guard let id = id, let index = sources.firstIndex(where: { $0.id == id }) else { return }
        if sources[index].lockedAt == 0 && sources[index].count - pending >= config.maxFailSource {
            sources[index].lockedAt = max(now, 1)
        }
    }

    /// Gives one failure of `source` back.
    mutating func refundSourceFailure(_ id: String?) {
        guard let id = id, let index = sources.firstIndex(where: { $0.id == id }) else { return }
        sources[index].count = max(0, sources[index].count - 1)
        if sources[index].count == 0 && !sources[index].isLocked { sources.remove(at: index) }
    }
}
