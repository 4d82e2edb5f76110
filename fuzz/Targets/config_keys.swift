// ConfigKeys.apply, one key at a time (the first byte picks the key, the rest is the value):
// an accepted value keeps every Config invariant, and numbers and booleans are exactly the
// documented forms.
@testable import EmailOTPConfig

let ranges: [String: ClosedRange<Int64>] = [
    "mail_port": 1...65535, "mail_timeout": 1...120, "otp_validity": 30...86400, "otp_length": 6...10,
    "otp_tries": 1...10, "max_open_challenges": 1...100, "resend_interval": 0...3600,
    "max_mails_per_hour": 1...1000, "max_fail": 1...1000, "unlock_time": 0...31_536_000,
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let key = ConfigKeys.all[Int(data[0]) % ConfigKeys.all.count]
    let value = fuzzText(data + 1, size - 1)
    var config = Config()
    let accepted = (try? ConfigKeys.apply(key, value, to: &config)) != nil

    if let range = ranges[key] {
        // Restated: optional '-', ASCII digits, in range. No '+', blanks, or other digits.
        let bytes = Array(value.utf8)
        let digits = bytes.first == 0x2D ? Array(bytes.dropFirst()) : bytes
        var expected = !digits.isEmpty && digits.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        if expected, let number = Int64(value) { expected = range.contains(number) } else { expected = false }
        check(accepted == expected, "\(key) = \(shown(value)): accepted=\(accepted)")
    }
    if key == "concurrent_challenges" || key == "mask_address" {
        let forms = ["true", "yes", "on", "1", "false", "no", "off", "0"]
        let asciiLower = String(decoding: value.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        check(!accepted || forms.contains(asciiLower), "\(key) accepted \(shown(value))")
    }
    if key == "mail_tls" {
        check(accepted == ["none", "starttls", "tls"].contains(value), "mail_tls accepted=\(accepted) for \(shown(value))")
    }
    if accepted {
        checkConfigInvariants(config)
    }
    return 0
}
