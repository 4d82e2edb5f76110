import EmailOTPSystem

/// One open challenge: a mailed code, kept only as a keyed hash.
public struct Challenge: Equatable {
    package var transactionID: String
    package var codeHash: String
    package var created: Int64
    package var expires: Int64
    package var triesLeft: Int
    /// Where it was asked from, kept with `notify = unanswered` only (Unanswered.swift).
    package var origin: ChallengeOrigin?

    package init(transactionID: String, codeHash: String, created: Int64, expires: Int64, triesLeft: Int,
                origin: ChallengeOrigin? = nil) {
        self.transactionID = transactionID
        self.codeHash = codeHash
        self.created = created
        self.expires = expires
        self.triesLeft = triesLeft
        self.origin = origin
    }

    /// A code is valid strictly before its expiry time.
    package func isExpired(at now: Int64) -> Bool { now >= expires }
}

/// A user's token and open challenges, as kept in the store.
public struct TokenRecord: Equatable {
    package var user: String
    /// Empty for a token enrolled with `--address-from-command` (`email -` in the file): the
    /// address is asked from `address_command` for each mail.
    package var email: String
    package var pinHash: String?
    package var enabled = true
    /// A pending enrolment (`state pending`): made by root or by `enroll_at_login`, it has no
    /// PIN yet and is activated only by the user's first login (`activate`). `enabled` is
    /// false while it is pending, so that every path that does not know enrolment refuses it.
    package var pending = false
    package var failCount = 0
    package var lockedAt: Int64 = 0
    package var mails: [Int64] = []
    package var challenges: [Challenge] = []
    package var cachedGrants: [CachedGrant] = []
    // Recovery codes, remembered hosts, alerts: format and rules in RecordExtras.swift.
    package var recoveryHashes: [String] = []
    package var remembered: [RememberedHost] = []
    package var recentHosts: [String] = []
    package var alerts: [Int64] = []
    package var alertedLock: Int64 = 0
    /// Failures per source (Lockout.swift).
    package var sources: [SourceFailures] = []
    /// Mailed codes that expired unused, waiting for their alert (Unanswered.swift).
    package var unanswered: [UnansweredCode] = []

    package init(user: String, email: String, pinHash: String?) {
        self.user = user
        self.email = email
        self.pinHash = pinHash
    }

    /// A pending enrolment: the address it will have (empty: `address_command`), no PIN yet.
    package static func pending(user: String, email: String) -> TokenRecord {
        var record = TokenRecord(user: user, email: email, pinHash: nil)
        record.enabled = false
        record.pending = true
        return record
    }

    /// The end of a pending enrolment: the token is enabled with the PIN chosen at the login.
    package mutating func activate(pinHash: String?) {
        pending = false
        enabled = true
        self.pinHash = pinHash
    }

    /// `state` of the record and of `emailotp show` and `list`.
    package var stateName: String { pending ? "pending" : (enabled ? "enabled" : "disabled") }
}

/// A record file that cannot be trusted.
public struct CorruptRecord: Error, CustomStringConvertible, Equatable {
    package let line: Int
    package let reason: String
    public var description: String { "line \(line): \(reason)" }
}

/// The record file format (documented in emailotp.conf(5), FILES).
package enum RecordFormat {
    package static let header = "emailotp-token 2"

    package static func render(_ record: TokenRecord) -> String {
        var lines = [header,
                     "user \(record.user)",
                     "email \(record.email.isEmpty ? "-" : record.email)",
                     "pin \(record.pinHash ?? "-")",
                     "state \(record.stateName)",
                     "fail_count \(record.failCount)",
                     "locked_at \(record.lockedAt)",
                     (["mails"] + record.mails.map(String.init)).joined(separator: " ")]
        for c in record.challenges {
            let origin = c.origin.map { " \($0.recordFields)" } ?? ""
            lines.append("challenge \(c.transactionID) \(c.codeHash) \(c.created) \(c.expires) \(c.triesLeft)\(origin)")
        }
        lines += record.cachedGrants.map(\.recordLine)
        lines += renderExtras(record)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses a record strictly: every field once, every number in range, nothing unknown.
    package static func parse(_ text: String, expectedUser: String) throws -> TokenRecord {
        let lines = ByteText.lines(text)
        guard let first = lines.first, ByteText.isOne(first, of: readableHeaders) else {
            throw CorruptRecord(line: 1, reason: "not an emailotp-token 1 or 2 record")
        }
        var fields = [String: String]()
        var challenges = [Challenge]()
        var grants = [CachedGrant]()
        var extras = [(key: String, value: String, line: Int)]()
        for (offset, line) in lines.enumerated().dropFirst() {
            let number = offset + 1
            if line.isEmpty {
                guard offset == lines.count - 1 else { throw CorruptRecord(line: number, reason: "empty line") }
                continue
            }
            let parts = ByteText.split(line, at: ByteText.space, maxSplits: 1)
            let key = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : ""
            if ByteText.same(key, "challenge") {
                challenges.append(try parseChallenge(value, line: number))
                continue
            }
            if ByteText.same(key, CachedGrant.keyword) {
                grants.append(try CachedGrant.parse(value, line: number))
                continue
            }
            if ByteText.isOne(key, of: extraKeys) {
                extras.append((key, value, number))
                continue
            }
            guard ByteText.isOne(key, of: ["user", "email", "pin", "state", "fail_count", "locked_at", "mails"]) else {
                throw CorruptRecord(line: number, reason: "unknown field \(LogText.printable(key))")
            }
            guard fields[key] == nil else { throw CorruptRecord(line: number, reason: "\(key) twice") }
            fields[key] = value
        }
        func field(_ key: String) throws -> String {
            guard let value = fields[key] else { throw CorruptRecord(line: 0, reason: "missing \(key)") }
            return value
        }
        let user = try field("user")
        guard ByteText.same(user, expectedUser) else { throw CorruptRecord(line: 0, reason: "record of another user") }
        var email = try field("email")
        if ByteText.same(email, "-") {
            email = ""
        } else {
            guard EmailAddress.isValid(email) else { throw CorruptRecord(line: 0, reason: "bad email") }
        }
        let pin = try field("pin")
        let noPIN = ByteText.same(pin, "-")
        guard noPIN || (ByteText.hasPrefix(pin, "$") && !ByteText.contains(pin, byte: ByteText.space) && !pin.hasControlCharacters) else { throw CorruptRecord(line: 0, reason: "bad pin hash") }
        var record = TokenRecord(user: user, email: email, pinHash: noPIN ? nil : pin)
        let state = try field("state")
        if ByteText.same(state, "enabled") {
            record.enabled = true
        } else if ByteText.same(state, "disabled") {
            record.enabled = false
        } else if ByteText.same(state, "pending") {
            // Older code refuses this value as a bad state: a pending record fails closed there.
            guard noPIN else { throw CorruptRecord(line: 0, reason: "a pending record with a PIN") }
            record = TokenRecord.pending(user: user, email: email)
        } else {
            throw CorruptRecord(line: 0, reason: "bad state")
        }
        guard let fails = parseInteger(try field("fail_count"), in: 0...1_000_000),
              let locked = parseInteger(try field("locked_at"), in: 0...Int64(Int32.max) * 4) else {
            throw CorruptRecord(line: 0, reason: "bad number")
        }
        record.failCount = Int(fails)
        record.lockedAt = locked
        let mailTimes = ByteText.split(try field("mails"), at: ByteText.space).filter { !$0.isEmpty }.map(String.init)
        guard mailTimes.count <= 1000 else { throw CorruptRecord(line: 0, reason: "too many mail times") }
        for time in mailTimes {
            guard let value = parseInteger(time, in: 0...Int64(Int32.max) * 4) else { throw CorruptRecord(line: 0, reason: "bad mail time") }
            record.mails.append(value)
        }
        guard challenges.count <= 1000 else { throw CorruptRecord(line: 0, reason: "too many challenges") }
        record.challenges = challenges
        guard grants.count <= 1000 else { throw CorruptRecord(line: 0, reason: "too many auth_cache entries") }
        record.cachedGrants = grants
        try applyExtras(extras, to: &record)
        return record
    }

    static func parseChallenge(_ value: String, line: Int) throws -> Challenge {
        let parts = ByteText.split(value, at: ByteText.space).map(String.init)
        // Five fields, or seven with the origin (`notify = unanswered`).
        let origin = parts.count == 7 ? ChallengeOrigin.parse(parts[5], parts[6]) : nil
        guard parts.count == 5 || origin != nil, parts[0].utf8.count == 20, parts[0].isASCIIDigits,
              parts[1].utf8.count == 64, Hex.decode(parts[1]) != nil,
              let created = parseInteger(parts[2], in: 0...Int64(Int32.max) * 4),
              let expires = parseInteger(parts[3], in: 0...Int64(Int32.max) * 4),
              let tries = parseInteger(parts[4], in: 0...100) else {
            throw CorruptRecord(line: line, reason: "bad challenge")
        }
        return Challenge(transactionID: parts[0], codeHash: parts[1], created: created, expires: expires, triesLeft: Int(tries),
                         origin: origin)
    }
}
