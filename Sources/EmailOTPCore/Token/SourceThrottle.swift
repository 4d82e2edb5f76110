import EmailOTPConfig
import EmailOTPSystem

/// The failures of one source of a user's logins (the remote host, or the terminal and calling
/// user of a local login), kept as a keyed hash of the source, never the source itself.
public struct SourceFailures: Equatable {
    public var id: String
    /// Consecutive failures from this source.
    public var count: Int
    /// The time of the last failure.
    public var last: Int64
    /// When this source locked (`max_fail_source`); 0 = not locked.
    public var lockedAt: Int64

    public init(id: String, count: Int, last: Int64, lockedAt: Int64 = 0) {
        self.id = id
        self.count = count
        self.last = last
        self.lockedAt = lockedAt
    }

    public var isLocked: Bool { lockedAt != 0 }
}

/// The lockout rule of every path (pam_emailotp(8), NOTES; emailotp.conf(5), max_fail and
/// max_fail_source): a failure counts for the user and for its source. `max_fail_source`
/// consecutive failures lock that source only; `max_fail` (far higher) lock the token for every
/// source. So wrong answers from one place cannot lock the user out of another, and guessing
/// from many places still ends at the user-wide lock. Kept bounded: at most `maxSources`
/// entries, each gone once `unlock_time` (a day when it is 0) has passed since its last failure
/// or its lock.
extension TokenRecord {
    public static let maxSources = 20

    /// True when this request may not be answered: the token is locked, or `source` is.
    public func isBlocked(source: String?) -> Bool {
        isLocked || (source.map { id in sources.contains { $0.id == id && $0.isLocked } } ?? false)
    }

    /// The sources locked now.
    public var lockedSources: Int { sources.filter(\.isLocked).count }

    /// Counts one failure of `source`; with `lock`, locks it at `max_fail_source`.
    mutating func countSourceFailure(_ id: String, now: Int64, config: Config, lock: Bool) {
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
        if lock { lockSourceIfDue(id, now: now, config: config) }
    }

    /// Locks `source` when its failures, less `pending` about to be refunded, reached `max_fail_source`.
    public mutating func lockSourceIfDue(_ id: String?, now: Int64, config: Config, pending: Int = 0) {
        guard let id = id, let index = sources.firstIndex(where: { $0.id == id }) else { return }
        if sources[index].lockedAt == 0 && sources[index].count - pending >= config.maxFailSource {
            sources[index].lockedAt = max(now, 1)
        }
    }

    /// Gives `misses` failures back, the user's and `source`'s (a right answer refunds its
    /// charge, and the deferred misses a right PIN settles).
    public mutating func refund(_ misses: Int, source: String?) {
        guard misses > 0 else { return }
        failCount = max(0, failCount - misses)
        for _ in 0..<min(misses, 1_000_000) { refundSourceFailure(source) }
    }

    /// Gives one failure of `source` back.
    mutating func refundSourceFailure(_ id: String?) {
        guard let id = id, let index = sources.firstIndex(where: { $0.id == id }) else { return }
        sources[index].count = max(0, sources[index].count - 1)
        if sources[index].count == 0 && !sources[index].isLocked { sources.remove(at: index) }
    }

    /// Unlocks and forgets sources whose time has passed (`refresh`).
    mutating func expireSources(now: Int64, config: Config) {
        let window = config.unlockTime > 0 ? config.unlockTime : 86400
        sources.removeAll { entry in
            if entry.isLocked { return config.unlockTime > 0 && now >= entry.lockedAt + config.unlockTime }
            return now >= entry.last + window || entry.last > now + 3600
        }
    }
}
