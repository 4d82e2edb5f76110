import EmailOTPSystem

/// One remembered (service, remote host) of a user (`remember`, emailotp.conf(5)): a keyed hash of the
/// pair, never the host itself, and the time the trust ends.
package struct RememberedHost: Equatable {
    package var id: String
    package var created: Int64
    package var expires: Int64

    /// Trusted strictly before its expiry time, like a code.
    package func isExpired(at now: Int64) -> Bool { now >= expires }
}

/// The record lines of format 2 (recovery codes, remembered hosts, alerts, unanswered codes). Format 1 records
/// have none of them and are read as records without any; every write is format 2.
extension RecordFormat {
    static let readableHeaders = ["emailotp-token 1", header]
    static let extraKeys = ["recovery", "remember", "hosts", "alerts", "lock_alerted", "source", "unanswered"]
    /// Far above what the module keeps (20 codes, 10 hosts): a bigger list is not ours.
    static let maxExtraEntries = 100

    /// Empty lists and a zero `lock_alerted` are left out, so an untouched record stays short.
    static func renderExtras(_ record: TokenRecord) -> [String] {
        var lines = [String]()
        if !record.recoveryHashes.isEmpty { lines.append((["recovery"] + record.recoveryHashes).joined(separator: " ")) }
        for host in record.remembered { lines.append("remember \(host.id) \(host.created) \(host.expires)") }
        if !record.recentHosts.isEmpty { lines.append((["hosts"] + record.recentHosts).joined(separator: " ")) }
        if !record.alerts.isEmpty { lines.append((["alerts"] + record.alerts.map(String.init)).joined(separator: " ")) }
        if record.alertedLock != 0 { lines.append("lock_alerted \(record.alertedLock)") }
        for entry in record.sources { lines.append("source \(entry.id) \(entry.count) \(entry.last) \(entry.lockedAt)") }
        for code in record.unanswered { lines.append("unanswered \(code.created) \(code.expires) \(code.origin.recordFields)") }
        return lines
    }

    static func applyExtras(_ entries: [(key: String, value: String, line: Int)], to record: inout TokenRecord) throws {
        var seen = Set<String>()
        for (key, value, line) in entries {
            if !ByteText.isOne(key, of: ["remember", "source", "unanswered"]) {
                guard !seen.contains(key) else { throw CorruptRecord(line: line, reason: "\(key) twice") }
                seen.insert(key)
            }
            let items = ByteText.split(value, at: ByteText.space).map(String.init)
            switch key {
            case "recovery":
                guard items.count <= maxExtraEntries, items.allSatisfy(isCryptHash) else {
                    throw CorruptRecord(line: line, reason: "bad recovery code hashes")
                }
                record.recoveryHashes = items
            case "remember":
                guard record.remembered.count < maxExtraEntries, items.count == 3, isKeyedHash(items[0]),
                      let created = parseInteger(items[1], in: 0...Int64(Int32.max) * 4),
                      let expires = parseInteger(items[2], in: 0...Int64(Int32.max) * 4) else {
                    throw CorruptRecord(line: line, reason: "bad remembered host")
                }
                record.remembered.append(RememberedHost(id: items[0], created: created, expires: expires))
            case "source":
                guard record.sources.count < maxExtraEntries, items.count == 4, isKeyedHash(items[0]),
                      let count = parseInteger(items[1], in: 0...1_000_000),
                      let last = parseInteger(items[2], in: 0...Int64(Int32.max) * 4),
                      let locked = parseInteger(items[3], in: 0...Int64(Int32.max) * 4) else {
                    throw CorruptRecord(line: line, reason: "bad source")
                }
                record.sources.append(SourceFailures(id: items[0], count: Int(count), last: last, lockedAt: locked))
            case "unanswered":
                guard record.unanswered.count < UnansweredCode.maxKept, items.count == 4,
                      let created = parseInteger(items[0], in: 0...Int64(Int32.max) * 4),
                      let expires = parseInteger(items[1], in: 0...Int64(Int32.max) * 4),
                      let origin = ChallengeOrigin.parse(items[2], items[3]) else {
                    throw CorruptRecord(line: line, reason: "bad unanswered code")
                }
                record.unanswered.append(UnansweredCode(created: created, expires: expires, origin: origin))
            case "hosts":
                guard items.count <= maxExtraEntries, items.allSatisfy(isKeyedHash) else {
                    throw CorruptRecord(line: line, reason: "bad recent hosts")
                }
                record.recentHosts = items
            case "alerts":
                let times = items.compactMap { parseInteger($0, in: 0...Int64(Int32.max) * 4) }
                guard items.count <= 1000, times.count == items.count else {
                    throw CorruptRecord(line: line, reason: "bad alert time")
                }
                record.alerts = times
            default:
                guard let time = parseInteger(value, in: 0...Int64(Int32.max) * 4) else {
                    throw CorruptRecord(line: line, reason: "bad lock_alerted")
                }
                record.alertedLock = time
            }
        }
    }

    static func isCryptHash(_ value: String) -> Bool {
        ByteText.hasPrefix(value, "$") && value.utf8.count <= 512 && !ByteText.contains(value, byte: ByteText.space)
            && !value.hasControlCharacters
    }

    static func isKeyedHash(_ value: String) -> Bool {
        value.utf8.count == 64 && Hex.decode(value) != nil
    }
}
