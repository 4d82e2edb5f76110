// RecordFormat.parse: whatever it accepts renders back to a record that parses to the same
// value, and an accepted record holds only what the format allows.
@testable import EmailOTPSystem
@testable import EmailOTPToken

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = fuzzText(data, size)
    // The store passes the user it was asked for; take it from the record so the fuzzer can
    // get past the "record of another user" check.
    var expected = "alice"
    for line in text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false) where line.starts(with: "user ".utf8) {
        expected = String(decoding: line.dropFirst(5), as: UTF8.self)
        break
    }
    guard let record = try? RecordFormat.parse(text, expectedUser: expected) else { return 0 }

    check(record.user == expected, "parsed the record of another user")
    // "" is the in-memory form of `email -` (--address-from-command).
    check(record.email.isEmpty || EmailAddress.isValid(record.email), "accepted email \(shown(record.email))")
    if let pin = record.pinHash {
        check(pin.utf8.first == 0x24 && !pin.utf8.contains(0x20), "accepted pin \(shown(pin))")
    }
    check((0...1_000_000).contains(record.failCount) && record.lockedAt >= 0, "numbers out of range")
    check(record.mails.count <= 1000 && record.mails.allSatisfy { $0 >= 0 }, "mail times")
    check(record.challenges.count <= 1000, "too many challenges")
    for c in record.challenges {
        check(c.transactionID.utf8.count == 20 && c.transactionID.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }, "txid \(shown(c.transactionID))")
        check(c.codeHash.utf8.count == 64 && c.codeHash.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) },
              "code hash \(shown(c.codeHash))")
        check((0...100).contains(c.triesLeft) && c.created >= 0 && c.expires >= 0, "challenge numbers")
    }

    // Format 2 lines (recovery codes, remembered hosts, alerts): bounded lists, one-word hashes.
    check(record.recoveryHashes.count <= 100 && record.remembered.count <= 100 && record.recentHosts.count <= 100,
          "too many recovery codes or hosts")
    for hash in record.recoveryHashes {
        check(hash.hasPrefix("$") && !hash.utf8.contains(0x20) && !hash.unicodeScalars.contains(where: isControl),
              "accepted recovery hash \(shown(hash))")
    }
    check(record.remembered.allSatisfy { $0.id.utf8.count == 64 } && record.recentHosts.allSatisfy { $0.utf8.count == 64 },
          "host ids")

    // For a user the store accepts, every field is one line of the record: nothing in it can
    // start a line of its own.
    if (try? UserName.validate(record.user)) != nil {
        for (name, value) in [("user", record.user), ("email", record.email), ("pin", record.pinHash ?? "-")] {
            check(!value.unicodeScalars.contains(where: isControl), "accepted \(name) with control characters: \(shown(value))")
        }
    }

    // Round trip: parse(render(parse(x))) == parse(x), and rendering is stable.
    let rendered = RecordFormat.render(record)
    let again: TokenRecord
    do {
        again = try RecordFormat.parse(rendered, expectedUser: expected)
    } catch {
        check(false, "render(parse(x)) does not parse: \(error)\n\(shown(rendered))")
        return 0
    }
    check(again == record, "parse(render(parse(x))) != parse(x)\n\(shown(rendered))")
    check(RecordFormat.render(again) == rendered, "render is not stable")
    return 0
}
