import EmailOTPConfig

/// Charge before check, on the record (pam_emailotp(8), NOTES; the flow is Flows/Attempt.swift):
/// an answer is compared only once its cost — failures (Lockout.swift) and one try of each
/// challenge it is checked against — is written; a right answer gives the charge back in the
/// same locked update, a wrong one keeps it.
extension TokenRecord {
    /// The charge of one attempt: `failures` failures (one per PIN candidate; with `lock` false,
    /// deferred misses that do not lock yet, see `lockIfDue`), each also counted for `source`,
    /// and one try of each challenge named in `tries`.
    package mutating func chargeFailure(now: Int64, config: Config, lock: Bool, tries ids: [String], failures: Int = 1,
                                       source: String? = nil) {
        for _ in 0..<max(1, failures) { registerFailure(now: now, config: config, lock: lock, source: source) }
        for id in ids {
            guard let index = challenges.firstIndex(where: { $0.transactionID == id }) else { continue }
            challenges[index].triesLeft -= 1
        }
    }

    /// `self` (the record after the charge, or as another host left it since) with the charge
    /// undone. When nothing changed it since the charge, that is exactly `pre`; otherwise the
    /// failure and the tries are given back, and a lock stays (fail closed).
    package func refunded(charged: TokenRecord?, pre: TokenRecord, tries ids: [String], failures: Int = 1,
                         source: String? = nil) -> TokenRecord {
        if charged == pre { return self }
        if self == charged { return pre }
        var r = self
        r.refund(max(1, failures), source: source)
        for id in ids {
            guard let index = r.challenges.firstIndex(where: { $0.transactionID == id }) else { continue }
            r.challenges[index].triesLeft += 1
        }
        return r
    }

    /// A wrong code or recovery code (the PIN, if any, was right): one failure and one try of
    /// each challenge in `tries`; the challenges of `open` it used up go. Returns the tries
    /// left to tell the user (0 once the token or `source` is locked).
    package mutating func chargeWrongAnswer(now: Int64, config: Config, lock: Bool, tries: [String], open: [Challenge],
                                           source: String?) -> Int {
        chargeFailure(now: now, config: config, lock: lock, tries: tries, source: source)
        let left = open.compactMap { target in challenges.first { $0.transactionID == target.transactionID }?.triesLeft }.max() ?? 0
        challenges.removeAll { challenge in challenge.triesLeft <= 0 && open.contains { $0.transactionID == challenge.transactionID } }
        return isBlocked(source: source) ? 0 : max(left, 0)
    }

    /// A right code: its challenge is used up and the login's failures cleared. False when the
    /// challenge is no longer there as it was compared (answered or replaced meanwhile).
    package mutating func consume(_ granted: Challenge, source: String?) -> Bool {
        guard challenges.contains(where: { $0.transactionID == granted.transactionID && $0.codeHash == granted.codeHash }) else {
            return false
        }
        challenges.removeAll { $0.transactionID == granted.transactionID }
        registerSuccess(source: source)
        return true
    }

    /// A right recovery code: its hash is used up, the challenges of `open` it answered go, the
    /// login's failures are cleared. False when the code was used meanwhile.
    package mutating func useRecoveryCode(_ hash: String, closing open: [Challenge], source: String?) -> Bool {
        guard let still = recoveryHashes.firstIndex(of: hash) else { return false }
        recoveryHashes.remove(at: still)
        challenges.removeAll { challenge in open.contains { $0.transactionID == challenge.transactionID } }
        registerSuccess(source: source)
        return true
    }
}
