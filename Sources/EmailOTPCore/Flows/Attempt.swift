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
enum Lead: Equatable {
    case trigger
    case code(String)
}

/// One attempt at an answer: what was typed, the challenges it is checked against, the charge
/// and the settlement. `charge` and `settle` are the two steps of one `TokenStore.attempt`;
/// this value is all they share.
struct Attempt {
    // MARK: what was typed, by shape only (never by whether it is right)

    /// The PIN candidates, each with what it leads to when it is the PIN. Every one is hashed,
    /// whichever matches, and every one is charged as a failure of its own (refunded when one
    /// of them is the PIN), so that `max_fail` buys one PIN guess per failure however the
    /// password splits.
    let pins: [(pin: String, lead: Lead)]
    /// A code or recovery code typed without a PIN.
    let bareCode: String?
    /// The challenge a code answers (`--transaction-id`); nil: the open ones.
    let transactionID: String?
    /// A code answer: its refusals are `VerifyOutcome`s, a PIN's and a password's `TriggerOutcome`s.
    let answersCode: Bool
    /// The password of a challenge-mode answer, for `auth_cache`.
    let password: String?

    // MARK: how it is counted and what it may grant

    let user: String
    /// A wrong PIN is counted without locking yet: a stacked password tried as the PIN,
    /// refunded when the PIN typed next is right.
    let deferMiss: Bool
    /// Such earlier misses, given back when a PIN of this attempt is right.
    let refunds: Int
    /// A right PIN (or, with pin=none, none) from a remembered host, or a right PIN from
    /// `trusted_networks`, grants.
    let remembered: Bool
    /// A pending enrolment's attempt (Enrolment.swift): it answers a pending record only, and a
    /// right code activates it with `enrolling.pinHash`.
    let enrolling: Enrolling?

    // MARK: the charge, as `charge` found and wrote it

    /// The request's keyed ids under the store's code key, read under the user's lock by the
    /// charge.
    private(set) var keys = Keys()
    /// The ids could not be computed (an HMAC failed: memory): the attempt is charged without
    /// its source, nothing is compared, and it is refused as a wrong answer.
    private(set) var keyFailure: Error? = nil
    /// The record before the charge (refreshed), nil when there is none.
    private(set) var pre: TokenRecord? = nil
    /// The challenges the answer is checked against.
    private(set) var targets: [Challenge] = []
    /// The challenges that were charged a try.
    private(set) var tries: [String] = []
    /// Codes expired unused were waiting for their alert.
    private(set) var unanswered = false

    // MARK: the settlement

    /// The code of a challenge the settlement opened (the caller mails it).
    private(set) var code = ""
    /// A hash that could not be computed: the charge was given back.
    private(set) var failure: Error? = nil

    /// The request's ids under the store's code key.
    struct Keys {
        var hasher = CodeHasher(key: [])
        var source: String? = nil
        var rememberedID: String? = nil
        var grantID: String? = nil
    }

    var failures: Int { max(1, pins.count) }
    var checksCode: Bool { bareCode != nil || pins.contains { $0.lead != .trigger } }

    init(user: String, _ typed: Typed, splits: (String) -> [(pin: String, code: String)], deferMiss: Bool, refunds: Int,
         remembered: Bool, enrolling: Enrolling?) {
        self.user = user
        self.deferMiss = deferMiss
        self.refunds = refunds
        self.remembered = remembered
        self.enrolling = enrolling
        switch typed {
        case .pin(let pin):
            (pins, bareCode, transactionID, answersCode, password) = (pin.map { [($0, .trigger)] } ?? [], nil, nil, false, nil)
        case .code(let code, let pin?, let id):
            (pins, bareCode, transactionID, answersCode, password) = ([(pin, .code(code))], nil, id, true, nil)
        case .code(let code, nil, let id):
            (pins, bareCode, transactionID, answersCode, password) = ([], code, id, true, nil)
        case .password(let typed):
            // A PIN may itself end in digits: a split is taken only when the part before the
            // code is the PIN. A recovery code takes the code's place the same way.
            let candidates = splits(typed).map { (pin: $0.pin, lead: Lead.code($0.code)) } + [(pin: typed, lead: Lead.trigger)]
            (pins, bareCode, transactionID, answersCode, password) = (candidates, nil, nil, false, typed)
        }
    }

    /// The first step, under the user's lock: refresh the record, then write the charge —
    /// `failures` failures and one try of each open target —, when the answer will be compared
    /// against something. `made` is the request's ids, computed under the same lock; when they
    /// could not be (`keyFailure`) the charge is written all the same, without a source.
    /// Runs again from the start when the store retries it.
    mutating func charge(_ record: inout TokenRecord?, now: Int64, keys made: Result<Keys, Error>, config: Config) {
        switch made {
        case .success(let made): (keys, keyFailure) = (made, nil)
        case .failure(let error): (keys, keyFailure) = (Keys(), error)
        }
        (pre, targets, tries, unanswered) = (nil, [], [], false)
        guard var r = record else { return }
        targets = r.targets(transactionID: transactionID, config: config)
        r.refresh(now: now, config: config)
        unanswered = !r.unanswered.isEmpty
        r.lockIfDue(now: now, config: config, pending: pins.isEmpty ? 0 : refunds, source: keys.source)
        pre = r
        let open = targets.filter { !$0.isExpired(at: now) }
        let usable = r.admits(enrolling: enrolling != nil) && !r.isBlocked(source: keys.source) && (pins.isEmpty || r.pinHash != nil)
        let compares = !pins.isEmpty || bareCode.map { RecoveryCode.normalized($0) != nil || !open.isEmpty } ?? false
        if usable && compares {
            tries = checksCode ? open.map(\.transactionID) : []
            r.chargeFailure(now: now, config: config, lock: !deferMiss, tries: tries, failures: failures, source: keys.source)
        }
        record = r
    }

    /// The second step, on the record as the charge left it (or as another host left it
    /// since: `charged` tells): compare, then refund and apply the outcome, or keep the charge.
    /// A hash that cannot be computed (memory) says nothing about the answer: the charge is
    /// given back and `failure` set. Any other error is the store's: nothing is written.
    mutating func settle(_ record: inout TokenRecord?, charged: TokenRecord?, now: Int64, by auth: Authenticator) throws -> AttemptOutcome {
        do {
            return try compareAndSettle(&record, charged: charged, now: now, by: auth)
        } catch let error as CryptoFailure {
            if let cur = record, let before = pre {
                record = cur.refunded(charged: charged, pre: before, tries: tries, failures: failures, source: keys.source)
            }
            failure = error
            return .verify(.noChallenge)
        }
    }

    private func refused(_ verify: VerifyOutcome) -> AttemptOutcome {
        answersCode ? .verify(verify) : .trigger(.refused(verify))
    }

    /// Every PIN candidate is hashed, with a dummy hash when there is nothing to check: the
    /// work depends on the shape of what was typed, never on the record. The lead of the first
    /// candidate that is the PIN.
    private func matchPIN(_ hash: String?) throws -> Lead? {
        var matched: Lead? = nil
        for candidate in pins {
            if let hash = hash {
                if try PINHash.check(candidate.pin, hash: hash), matched == nil { matched = candidate.lead }
            } else {
                try PINHash.dummyCheck(candidate.pin)
            }
        }
        return matched
    }

    private mutating func compareAndSettle(_ record: inout TokenRecord?, charged: TokenRecord?, now: Int64,
                                           by auth: Authenticator) throws -> AttemptOutcome {
        // The ids could not be computed: nothing is compared and the charge stays, as when a
        // code's HMAC fails in the compare (a failure under the lock is never a grant).
        if keyFailure != nil { return refused(.wrong(triesLeft: 0)) }
        let matched = try matchPIN(record?.pinHash)
        let source = keys.source
        guard let cur = record, let before = pre else { return refused(.noToken) }
        guard before.admits(enrolling: enrolling != nil) else { return refused(.disabled) }
        guard !before.isBlocked(source: source) else { return refused(.locked) }
        if !pins.isEmpty && before.pinHash == nil { return refused(.noPIN) }

        var r = cur.refunded(charged: charged, pre: before, tries: tries, failures: failures, source: source)
        let lead: Lead
        if !pins.isEmpty {
            guard let found = matched else {
                r.chargeFailure(now: now, config: auth.config, lock: !deferMiss, tries: [], failures: failures, source: source)
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
        switch lead {
        case .trigger:
            let outcome = try settleTrigger(&r, now: now, by: auth)
            record = r
            return outcome
        case .code(let answer):
            return try settleCode(answer, &record, refunded: r, before: before, now: now, config: auth.config)
        }
    }

    /// A right PIN (or none, pin=none): granted from a remembered host or `trusted_networks`,
    /// else a challenge opened or re-used. A pending enrolment is activated by a code only:
    /// never granted without one.
    private mutating func settleTrigger(_ r: inout TokenRecord, now: Int64, by auth: Authenticator) throws -> AttemptOutcome {
        let trusted = remembered && auth.fromTrustedNetwork
        if enrolling == nil, trusted || keys.rememberedID.map({ r.isRemembered($0, now: now) }) == true {
            r.registerSuccess(source: keys.source)
            return .trigger(.remembered)
        }
        return .trigger(try auth.open(&r, user: user, now: now, hasher: keys.hasher, code: &code))
    }

    /// A code or recovery code, the PIN (if any) right: a cached grant, a recovery code, or a
    /// mailed code compared with the open targets. `r` is the record with the charge refunded;
    /// a wrong answer keeps one failure and the tries.
    private func settleCode(_ answer: String, _ record: inout TokenRecord?, refunded r: TokenRecord, before: TokenRecord,
                            now: Int64, config: Config) throws -> AttemptOutcome {
        let source = keys.source
        var r = r
        if let id = keys.grantID, r.hasCachedGrant(id, at: now) {
            r.registerSuccess(source: source)
            record = r
            return .cachedGrant
        }
        let open = targets.filter { !$0.isExpired(at: now) }
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
        for candidate in open
        where keys.hasher.matches(code: answer, transactionID: candidate.transactionID, user: user, storedHash: candidate.codeHash)
            && wellFormed {
            if match == nil { match = candidate }
        }
        guard let granted = match else { return wrong() }
        // Answered or replaced meanwhile: nothing is written.
        guard r.consume(granted, source: source) else { return .verify(.noChallenge) }
        if let enrolment = enrolling { r.activate(pinHash: enrolment.pinHash) }
        record = r
        return .verify(.granted)
    }
}

extension Authenticator {
    /// One attempt (`Attempt`): charge, compare, then refund or keep the charge, and apply the
    /// outcome (open a challenge, grant, count a wrong code), all in one `TokenStore.attempt`.
    /// The store's code key is read, and the request's ids made with it, by the charge, under
    /// the user's lock. Returns the outcome and, when a challenge was opened, its code (the
    /// caller mails it). Throws the store's error when the key cannot be read or the charge (or
    /// the outcome) cannot be written, and `CryptoFailure` when a PIN hash or a new code's hash
    /// could not be computed (the charge is refunded then). An id that could not be computed
    /// is a refusal (`Attempt.keyFailure`).
    func attempt(user: String, _ typed: Typed, deferMiss: Bool = false, refunds: Int = 0,
                 remembered: Bool = false, enrolling: Enrolling? = nil) throws -> (outcome: AttemptOutcome, code: String) {
        var attempt = Attempt(user: user, typed, splits: passwordSplits, deferMiss: deferMiss, refunds: refunds,
                              remembered: remembered, enrolling: enrolling)
        Digest.prepare()  // OpenSSL's first fetch outside the lock, for every name alike
        let outcome: AttemptOutcome = try store.attempt(user: user, charge: { record, now in
            let key = try store.codeKey()
            let keys = Result { try self.keys(for: attempt, key: key) }
            attempt.charge(&record, now: now, keys: keys, config: config)
        }, settle: { record, charged, now in
            try attempt.settle(&record, charged: charged, now: now, by: self)
        })
        // Codes that expired unused before this attempt: their alert, outside the lock.
        if attempt.unanswered { alertUnanswered(user: user) }
        if let failure = attempt.keyFailure {
            log(.error, user, "request ids not computed, answer refused unchecked and counted: \(failure)")
        }
        if let failure = attempt.failure { throw failure }
        return (outcome, attempt.code)
    }

    /// The request's ids under the code key `key`: the source, the remembered host (when
    /// `remember` may grant), the cached grant (challenge mode with `auth_cache`).
    func keys(for attempt: Attempt, key: [UInt8]) throws -> Attempt.Keys {
        var keys = Attempt.Keys(hasher: CodeHasher(key: key), source: try sourceID(user: attempt.user, key: key))
        if attempt.remembered { keys.rememberedID = try rememberedHostID(user: attempt.user, key: key) }
        if let password = attempt.password, config.authCache > 0 {
            keys.grantID = try grantHash(user: attempt.user, password: password, key: key)
        }
        return keys
    }

    /// The splits of a challenge-mode password into PIN + code: the digit split and the
    /// recovery-code split, those its shape allows.
    func passwordSplits(_ password: String) -> [(pin: String, code: String)] {
        [digitSplit(password), RecoveryCode.split(password)].compactMap { $0 }
    }

    /// Opens a challenge, or re-uses one younger than `resend_interval`; `code` gets the new code.
    /// The challenge is written with no tries left: it cannot be answered until its mail has gone out.
    /// Only an armed challenge (its mail went out) is re-used: one that is not (its login died
    /// before the mail, or its mail is still being sent) is replaced by a new one and a new
    /// mail, so that no login is told of a code nobody can answer.
    func open(_ r: inout TokenRecord, user: String, now: Int64, hasher: CodeHasher, code: inout String) throws -> TriggerOutcome {
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
