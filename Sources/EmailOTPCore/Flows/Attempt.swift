import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPStore
import EmailOTPSystem
import EmailOTPToken

/// Charge before check (pam_emailotp(8), NOTES): the one verify-and-grant step of every flow.
///
/// A PIN, code or recovery code is compared only after the attempt has been written to the
/// store as a failure (one failure, one try of each challenge it is checked against). A right
/// answer refunds that charge in the same locked update; a wrong one keeps it. When the charge
/// cannot be written (a full disk or quota, `RLIMIT_FSIZE`, an I/O error, a lock or database
/// timeout) nothing is compared and the login fails closed, the same whatever was typed: the
/// caller of su or sudo chooses the resource limits and may stop the process at any point, so
/// a verdict must never come before its cost is on disk.
enum Typed: Equatable {
    /// A PIN alone, or nothing (pin=none): opens or re-uses a challenge.
    case pin(String?)
    /// A code or recovery code, with the PIN when it came in the same answer.
    case code(String, pin: String?, transactionID: String?)
    /// A password of mode=challenge with pin=token: the PIN, or the PIN followed by a code or
    /// a recovery code. Which one is decided under the lock, by the PIN that matches.
    case password(String)
}

/// What one attempt ended with.
enum AttemptOutcome: Equatable {
    case trigger(TriggerOutcome)
    case verify(VerifyOutcome)
    /// PIN + code granted again from `auth_cache`.
    case cachedGrant
}

/// What a PIN candidate leads to when it matches.
private enum Lead: Equatable {
    case trigger
    case code(String)
}

extension Authenticator {
    /// The PIN candidates of `typed`, by shape only (never by whether they are right): each
    /// with what it leads to when it is the PIN. Every one is hashed, whichever matches, and
    /// every one is charged as a failure of its own (refunded when one of them is the PIN), so
    /// that `max_fail` buys one PIN guess per failure however the password splits.
    private func candidates(_ typed: Typed) -> (pins: [(pin: String, lead: Lead)], code: String?) {
        switch typed {
        case .pin(let pin?): return ([(pin, .trigger)], nil)
        case .pin(nil): return ([], nil)
        case .code(let code, let pin?, _): return ([(pin, .code(code))], nil)
        case .code(let code, nil, _): return ([], code)
        case .password(let password):
            var pins = [(pin: String, lead: Lead)]()
            // A PIN may itself end in digits: the split is taken only when the part before
            // the code is the PIN. A recovery code takes the code's place the same way.
            if let split = digitSplit(password) { pins.append((split.pin, .code(split.code))) }
            if let split = RecoveryCode.split(password) { pins.append((split.pin, .code(split.code))) }
            pins.append((password, .trigger))
            return (pins, nil)
        }
    }

    /// One attempt: charge, compare, then refund or keep the charge, and apply the outcome
    /// (open a challenge, grant, count a wrong code), all in one `TokenStore.attempt`.
    /// Returns the outcome and, when a challenge was opened, its code (the caller mails it).
    /// - Parameters:
    ///   - deferMiss: a wrong PIN is counted without locking yet: it is a stacked password
    ///     tried as the PIN, refunded when the PIN typed next is right.
    ///   - refunds: such earlier misses, given back when a PIN of this attempt is right.
    ///   - remembered: a right PIN (or, with pin=none, none) from a remembered host, or a right
    ///     PIN from `trusted_networks`, grants.
    ///   - enrolling: the attempt is a pending enrolment's (Enrolment.swift): it answers a
    ///     pending record only, and a right code activates it with `enrolling.pinHash`.
    /// Throws the store's error when the charge (or the outcome) cannot be written, and
    /// `CryptoFailure` when a hash could not be computed (the charge is refunded then).
    func attempt(user: String, _ typed: Typed, deferMiss: Bool = false, refunds: Int = 0,
                 remembered: Bool = false, enrolling: Enrolling? = nil) throws -> (outcome: AttemptOutcome, code: String) {
        let hasher = CodeHasher(key: try store.codeKey())
        let rememberedID = remembered ? try rememberedHostID(user: user) : nil
        let source = try sourceID(user: user)
        var grantID: String? = nil
        if case .password(let password) = typed, config.authCache > 0 {
            grantID = try grantHash(user: user, password: password)
        }
        let (pins, bareCode) = candidates(typed)
        let checksCode = bareCode != nil || pins.contains { $0.lead != .trigger }
        var transactionID: String? = nil
        var answersCode = false
        if case .code(_, _, let id) = typed {
            transactionID = id
            answersCode = true
        }

        var pre: TokenRecord? = nil
        var targets: [Challenge] = []
        var charged: [String] = []
        var code = ""
        var cryptFailure: Error? = nil
        var unanswered = false
        let failures = max(1, pins.count)
        let outcome: AttemptOutcome = try store.attempt(user: user, charge: { record, now in
            guard var r = record else { return }
            targets = r.targets(transactionID: transactionID, config: config)
            r.refresh(now: now, config: config)
            unanswered = !r.unanswered.isEmpty
            r.lockIfDue(now: now, config: config, pending: pins.isEmpty ? 0 : refunds, source: source)
            pre = r
            let open = targets.filter { !$0.isExpired(at: now) }
            let usable = r.admits(enrolling: enrolling != nil) && !r.isBlocked(source: source) && (pins.isEmpty || r.pinHash != nil)
            let compares = !pins.isEmpty || bareCode.map { RecoveryCode.normalized($0) != nil || !open.isEmpty } ?? false
            if usable && compares {
                charged = checksCode ? open.map(\.transactionID) : []
                r.chargeFailure(now: now, config: config, lock: !deferMiss, tries: charged, failures: failures, source: source)
            }
            record = r
        }, settle: { record, chargedRecord, now in
            do {
                return try settle(&record, charged: chargedRecord, pre: pre, pins: pins, bareCode: bareCode,
                                  answersCode: answersCode,
                                  targets: targets, tries: charged, failures: failures, now: now, user: user, hasher: hasher,
                                  deferMiss: deferMiss, refunds: refunds, rememberedID: rememberedID,
                                  trusted: remembered && fromTrustedNetwork, source: source,
                                  grantID: grantID, enrolling: enrolling, code: &code)
            } catch let error as CryptoFailure {
                // A hash that cannot be computed (memory) says nothing about the answer: the
                // charge is given back and the login ends as a service error.
                if let cur = record, let before = pre {
                    record = cur.refunded(charged: chargedRecord, pre: before, tries: charged, failures: failures, source: source)
                }
                cryptFailure = error
                return .verify(.noChallenge)
            }
        })
        // Codes that expired unused before this attempt: their alert, outside the lock.
        if unanswered { alertUnanswered(user: user) }
        if let failure = cryptFailure { throw failure }
        return (outcome, code)
    }

    /// The compare and its outcome, on the record as the charge left it (`record`).
    private func settle(_ record: inout TokenRecord?, charged: TokenRecord?, pre: TokenRecord?,
                        pins: [(pin: String, lead: Lead)], bareCode: String?, answersCode: Bool, targets: [Challenge], tries: [String],
                        failures: Int, now: Int64, user: String, hasher: CodeHasher, deferMiss: Bool, refunds: Int,
                        rememberedID: String?, trusted: Bool, source: String, grantID: String?, enrolling: Enrolling?,
                        code: inout String) throws -> AttemptOutcome {
        // Every PIN candidate is hashed, with a dummy hash when there is nothing to check: the
        // work depends on the shape of what was typed, never on the record.
        var matched: Lead? = nil
        for candidate in pins {
            if let hash = record?.pinHash {
                if try PINHash.check(candidate.pin, hash: hash), matched == nil { matched = candidate.lead }
            } else {
                try PINHash.dummyCheck(candidate.pin)
            }
        }
        let asPIN = !pins.isEmpty
        func refused(_ verify: VerifyOutcome) -> AttemptOutcome {
            answersCode ? .verify(verify) : .trigger(TriggerOutcome(verify))
        }
        guard let cur = record, let before = pre else { return refused(.noToken) }
        guard before.admits(enrolling: enrolling != nil) else { return refused(.disabled) }
        guard !before.isBlocked(source: source) else { return refused(.locked) }
        if asPIN && before.pinHash == nil { return refused(.noPIN) }

        var r = cur.refunded(charged: charged, pre: before, tries: tries, failures: failures, source: source)
        let lead: Lead
        if asPIN {
            guard let found = matched else {
                r.chargeFailure(now: now, config: config, lock: !deferMiss, tries: [], failures: failures, source: source)
                record = r
                return refused(.wrongPIN)
            }
            r.refund(refunds, source: source)
            lead = found
        } else {
            lead = bareCode.map { .code($0) } ?? .trigger
        }
        // The record moved on since the charge (another host, PostgreSQL): grant only what is
        // still grantable there.
        guard r.admits(enrolling: enrolling != nil), !r.isBlocked(source: source) else {
            record = cur
            return refused(.locked)
        }

        guard case .code(let answer) = lead else {
            // A right PIN from a remembered host, or from trusted_networks, needs no code. A
            // pending enrolment is activated by a code only: never granted without one.
            if enrolling == nil, trusted || rememberedID.map({ r.isRemembered($0, now: now) }) == true {
                r.registerSuccess(source: source)
                record = r
                return .trigger(.remembered)
            }
            let opened = try open(&r, user: user, now: now, hasher: hasher, code: &code)
            record = r
            return .trigger(opened)
        }
        if let id = grantID, r.hasCachedGrant(id, at: now) {
            r.registerSuccess(source: source)
            record = r
            return .cachedGrant
        }
        let open = targets.filter { !$0.isExpired(at: now) }
        // What is left of a wrong answer: one failure and the tries of the charge (the PIN was
        // right: its other candidates' failures are given back), minus the challenges it used up.
        func wrong() -> AttemptOutcome {
            var w = r
            let left = w.chargeWrongAnswer(now: now, config: config, lock: !deferMiss, tries: tries, open: open, source: source)
            record = w
            return .verify(.wrong(triesLeft: left))
        }
        if let recovery = RecoveryCode.normalized(answer) {
            guard let index = try RecoveryCode.check(recovery, hashes: before.recoveryHashes) else { return wrong() }
            guard r.useRecoveryCode(before.recoveryHashes[index], closing: open, source: source) else { return wrong() }
            record = r
            return .verify(.recovered(left: r.recoveryHashes.count))
        }
        if targets.isEmpty {
            record = r
            return .verify(.noChallenge)
        }
        if open.isEmpty {
            record = r
            return .verify(.expired)
        }
        let wellFormed = answer.utf8.count == config.otpLength && answer.isASCIIDigits
        var match: Challenge? = nil
        for candidate in open where hasher.matches(code: answer, transactionID: candidate.transactionID, user: user, storedHash: candidate.codeHash) && wellFormed {
            if match == nil { match = candidate }
        }
        guard let granted = match else { return wrong() }
        guard r.consume(granted, source: source) else {
            record = cur
            return .verify(.noChallenge)
        }
        if let enrolment = enrolling { r.activate(pinHash: enrolment.pinHash) }
        record = r
        return .verify(.granted)
    }

    /// Opens a challenge, or re-uses one younger than `resend_interval`; `code` gets the new code.
    /// The challenge is written with no tries left: it cannot be answered until its mail has gone out.
    /// Only an armed challenge (its mail went out) is re-used: one that is not (its login died
    /// before the mail, or its mail is still being sent) is replaced by a new one and a new
    /// mail, so that no login is told of a code nobody can answer.
    private func open(_ r: inout TokenRecord, user: String, now: Int64, hasher: CodeHasher, code: inout String) throws -> TriggerOutcome {
        if let newest = r.newestArmedChallenge, config.resendInterval > 0, now - newest.created < config.resendInterval {
            return .reused(newest, email: r.email)
        }
        guard r.mayMailCode(config: config) else { return .rateLimited }
        code = try random.digits(config.otpLength)
        let transactionID = try random.digits(20)
        let challenge = Challenge(transactionID: transactionID,
                                  codeHash: try hasher.hash(code: code, transactionID: transactionID, user: user),
                                  created: now, expires: now + config.otpValidity, triesLeft: 0,
                                  origin: config.notify.contains(.unanswered)
                                      ? ChallengeOrigin(service: context.service, rhost: context.rhost) : nil)
        r.openMailed(challenge, config: config)
        return .sent(challenge, email: r.email)
    }
}
