// Helpers shared by the fuzz targets: turning the fuzzer's bytes into the inputs the module
// sees, independent decoders for the encodings it produces, and the invariants of a Config.
// Harness code, not module code: a broken property traps with a message that says which.
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPSystem
import Glibc

/// The bytes as text, repaired the way `SafeFile.readText` repairs a file (invalid UTF-8 → U+FFFD).
func fuzzText(_ data: UnsafePointer<UInt8>, _ size: Int) -> String {
    String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
}

/// Several inputs in one: fields separated by 0xFF, a byte that never occurs in UTF-8, so no
/// text is lost by using it as the separator.
func fuzzFields(_ data: UnsafePointer<UInt8>, _ size: Int) -> [String] {
    UnsafeBufferPointer(start: data, count: size)
        .split(separator: 0xFF, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
}

/// Traps with `message` and the offending value when `condition` is false.
func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition {
        fputs("PROPERTY VIOLATED: \(message())\n", stderr)
        preconditionFailure("property violated", file: file, line: line)
    }
}

/// A value quoted so that control characters are visible in a failure message.
func shown(_ value: String) -> String { value.debugDescription }

/// True for C0, DEL and C1 — the same set `hasControlCharacters` refuses, written out again.
func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0)
}

/// The rules every accepted configuration satisfies, whatever the file or arguments said.
func checkConfigInvariants(_ config: Config) {
    let texts: [(String, String)] = [
        ("mail_server", config.mailServer), ("mail_user", config.mailUser),
        ("mail_password", config.mailPassword), ("mail_password_file", config.mailPasswordFile),
        ("mail_sender", config.mailSender), ("mail_ca_file", config.mailCAFile),
        ("mail_subject", config.mailSubject), ("mail_template", config.mailTemplate),
        ("mail_html_template", config.mailHTMLTemplate), ("sendmail_path", config.sendmailPath),
        ("pin_prompt", config.pinPrompt), ("otp_prompt", config.otpPrompt), ("store", config.store),
    ]
    for (key, value) in texts {
        check(!value.unicodeScalars.contains(where: isControl), "\(key) accepted control characters: \(shown(value))")
    }
    check(!config.mailServer.isEmpty && config.mailServer.utf8.count <= 253
          && config.mailServer.utf8.allSatisfy({ $0 < 0x80 && $0 != 0x20 && $0 != 0x2F && $0 != 0x40 }),
          "mail_server is no host: \(shown(config.mailServer))")
    check(config.mailSender.isEmpty || EmailAddress.isValid(config.mailSender), "mail_sender \(shown(config.mailSender))")
    for (key, path) in [("mail_password_file", config.mailPasswordFile), ("mail_ca_file", config.mailCAFile),
                        ("mail_template", config.mailTemplate), ("mail_html_template", config.mailHTMLTemplate)] {
        check(path.isEmpty || path.utf8.first == 0x2F, "\(key) is not absolute: \(shown(path))")
    }
    check(config.sendmailPath.utf8.first == 0x2F, "sendmail_path is not absolute: \(shown(config.sendmailPath))")
    if StoreLocation.isDatabaseURI(config.store) {
        // A database store: no password, no blank or control character in the URI.
        check(!StoreLocation.holdsPassword(config.store) && !config.store.utf8.contains(0x20)
              && !config.store.unicodeScalars.contains(where: isControl), "store URI \(shown(config.store))")
    } else {
        check(config.store.utf8.first == 0x2F, "store is not absolute: \(shown(config.store))")
    }
    if case .maildir(let path) = config.mailTransport {
        check(path.utf8.first == 0x2F && !path.unicodeScalars.contains(where: isControl), "maildir path \(shown(path))")
    }
    check((1...65535).contains(config.effectivePort), "mail_port \(config.effectivePort)")
    check((1...120).contains(config.mailTimeout), "mail_timeout \(config.mailTimeout)")
    check((30...86400).contains(config.otpValidity), "otp_validity \(config.otpValidity)")
    check((6...10).contains(config.otpLength), "otp_length \(config.otpLength)")
    check((1...10).contains(config.otpTries), "otp_tries \(config.otpTries)")
    check((1...100).contains(config.maxOpenChallenges), "max_open_challenges \(config.maxOpenChallenges)")
    check((0...3600).contains(config.resendInterval), "resend_interval \(config.resendInterval)")
    check((1...1000).contains(config.maxMailsPerHour), "max_mails_per_hour \(config.maxMailsPerHour)")
    check((1...1000).contains(config.maxFail), "max_fail \(config.maxFail)")
    check((0...31_536_000).contains(config.unlockTime), "unlock_time \(config.unlockTime)")
    check(config.mailUser.utf8.count <= 256 && config.mailPassword.utf8.count <= 1024
          && config.mailSubject.utf8.count <= 200 && config.pinPrompt.utf8.count <= 200
          && config.otpPrompt.utf8.count <= 200, "a text value is over its length limit")
}

/// Quoted-printable decoding (RFC 2045), written independently of `MIMEEncoding`. Checks the
/// form on the way: `=` only as `=XX` (upper-case hex) or as a soft break at the end of a line.
func decodeQuotedPrintable(_ text: String) -> [UInt8] {
    let bytes = Array(text.utf8)
    var out = [UInt8]()
    var index = 0
    func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        default: return nil
        }
    }
    while index < bytes.count {
        let byte = bytes[index]
        if byte == 0x3D {
            if index + 1 < bytes.count && bytes[index + 1] == 0x0A {
                index += 2
                continue
            }
            check(index + 2 < bytes.count, "quoted-printable: '=' at the end of the text")
            guard let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) else {
                check(false, "quoted-printable: '=' not followed by two upper-case hex digits in \(shown(text))")
                return out
            }
            out.append(high << 4 | low)
            index += 3
        } else {
            out.append(byte)
            index += 1
        }
    }
    return out
}

/// Base64 decoding (RFC 4648, with padding), independent of `MIMEEncoding.base64`.
func decodeBase64(_ text: Substring) -> [UInt8]? {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    let chars = Array(text.utf8)
    guard chars.count % 4 == 0 else { return nil }
    var out = [UInt8]()
    var index = 0
    while index < chars.count {
        var values = [UInt8]()
        var padding = 0
        for char in chars[index..<index + 4] {
            if char == 0x3D {
                padding += 1
                values.append(0)
            } else {
                guard padding == 0, let value = alphabet.firstIndex(of: char) else { return nil }
                values.append(UInt8(value))
            }
        }
        guard padding <= 2, padding == 0 || index + 4 == chars.count else { return nil }
        let triple = [values[0] << 2 | values[1] >> 4, values[1] << 4 | values[2] >> 2, values[2] << 6 | values[3]]
        out += triple.prefix(3 - padding)
        index += 4
    }
    return out
}

/// A random source that repeats the fuzzer's bytes (the composer needs 12 for the boundary).
struct FixedRandom: RandomSource {
    func bytes(_ count: Int) throws -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
    }
}
