import EmailOTPConfig
import EmailOTPSystem

/// Where a challenge was asked from (`notify = unanswered`, emailotp.conf(5)): `PAM_SERVICE` and
/// `PAM_RHOST` as the application gave them. Kept only with that setting, while the code is open
/// and until its alert has been mailed; nothing else in the record names a host.
package struct ChallengeOrigin: Equatable {
    package var service: String
    package var rhost: String

    /// Each value is cut to its first `maxBytes` bytes (on a scalar boundary).
    package init(service: String, rhost: String) {
        self.service = Self.cut(service)
        self.rhost = Self.cut(rhost)
    }

    static let maxBytes = 255

    static func cut(_ text: String) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count > maxBytes else { return text }
        var end = maxBytes
        while end > 0 && !ByteText.startsScalar(bytes[end]) { end -= 1 }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    /// The two record fields: the bytes in hex, `-` for an empty value, so that no value the
    /// application chose can add a field or a line.
    var recordFields: String { "\(Self.field(service)) \(Self.field(rhost))" }

    static func field(_ value: String) -> String { value.isEmpty ? "-" : Hex.encode(Array(value.utf8)) }

    /// nil for a field that is not `-` or the lowercase hex of at most `maxBytes` UTF-8 bytes.
    static func value(_ field: String) -> String? {
        if ByteText.same(field, "-") { return "" }
        guard field.utf8.count <= 2 * maxBytes, field.utf8.allSatisfy({ Hex.digits.contains($0) }),
              let bytes = Hex.decode(field), !bytes.isEmpty else { return nil }
        return ByteText.decode(bytes)
    }

    static func parse(_ service: String, _ rhost: String) -> ChallengeOrigin? {
        guard let s = value(service), let r = value(rhost) else { return nil }
        return ChallengeOrigin(service: s, rhost: r)
    }
}

/// A mailed code (an armed challenge) that expired without being used, waiting for its
/// `unanswered` alert: when it was mailed, when it expired, and where it was asked from.
package struct UnansweredCode: Equatable {
    package var created: Int64
    package var expires: Int64
    package var origin: ChallengeOrigin

    /// At most this many wait for an alert (the newest are kept): more are one alert's worth.
    package static let maxKept = 20
}

extension TokenRecord {
    /// Moves the armed challenges that expired by `now` and carry an origin into `unanswered`
    /// (`refresh` drops them next). A challenge without tries left was never armed (its mail
    /// did not go out) and is not reported. Without `notify = unanswered` the list is emptied:
    /// nothing waits for an alert that is turned off.
    package mutating func noteUnanswered(now: Int64, config: Config) {
        guard config.notify.contains(.unanswered) else {
            unanswered.removeAll()
            return
        }
        for challenge in challenges where challenge.isExpired(at: now) && challenge.triesLeft > 0 {
            guard let origin = challenge.origin else { continue }
            unanswered.append(UnansweredCode(created: challenge.created, expires: challenge.expires, origin: origin))
        }
        unanswered.sort { $0.created < $1.created }
        if unanswered.count > UnansweredCode.maxKept { unanswered.removeFirst(unanswered.count - UnansweredCode.maxKept) }
    }

    /// Takes every waiting unanswered code for one alert (after noting those expired since).
    package mutating func takeUnanswered(now: Int64, config: Config) -> [UnansweredCode] {
        noteUnanswered(now: now, config: config)
        challenges.removeAll { $0.isExpired(at: now) }
        defer { unanswered.removeAll() }
        return unanswered
    }
}
