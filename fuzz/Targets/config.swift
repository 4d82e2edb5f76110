// ConfigLoader.parse + ConfigKeys.apply over a whole emailotp.conf: what is accepted is well
// formed, renders back to the same entries, and yields a Config with no control characters.
@testable import EmailOTPConfig

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = fuzzText(data, size)
    guard let entries = try? ConfigLoader.parse(text, source: "fuzz.conf") else { return 0 }

    var previousLine = 0
    var keys = Set<String>()
    for entry in entries {
        check(ConfigKeys.all.contains(entry.key), "accepted unknown key \(shown(entry.key))")
        check(keys.insert(entry.key).inserted, "accepted \(entry.key) twice")
        check(entry.line > previousLine, "line numbers do not increase")
        previousLine = entry.line
        check(!entry.value.utf8.contains(0x0A), "a value spans lines: \(shown(entry.value))")
    }

    // Written back with every value quoted, the file parses to the same entries.
    let rendered = entries.map { "\($0.key) = \"\($0.value)\"\n" }.joined()
    if let reparsed = try? ConfigLoader.parse(rendered, source: "rendered.conf") {
        check(reparsed.map(\.key) == entries.map(\.key), "keys change on a round trip")
        for (a, b) in zip(reparsed, entries) {
            check(Array(a.value.unicodeScalars) == Array(b.value.unicodeScalars),
                  "value of \(a.key) changes on a round trip: \(shown(b.value)) → \(shown(a.value))")
        }
    } else {
        check(false, "the entries, written back, do not parse:\n\(shown(rendered))")
    }

    // Applied as `load` applies them; an accepted configuration keeps every invariant.
    var config = Config()
    for entry in entries {
        guard (try? ConfigKeys.apply(entry.key, entry.value, to: &config)) != nil else { return 0 }
    }
    checkConfigInvariants(config)
    _ = try? ConfigLoader.checkConsistency(config)
    return 0
}
