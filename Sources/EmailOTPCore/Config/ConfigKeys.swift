/// One bad setting: where it came from and why it is refused.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Applies `key = value` settings to a `Config`, validating each value.
public enum ConfigKeys {
    public static let all = [
        "mail_server", "mail_port", "mail_user", "mail_password", "mail_password_file",
        "mail_sender", "mail_tls", "mail_ca_file", "mail_timeout", "mail_transport",
        "mail_subject", "mail_template", "mail_html_template", "otp_validity", "otp_length",
        "otp_tries", "concurrent_challenges", "max_open_challenges", "resend_interval",
        "max_mails_per_hour", "mask_address", "sendmail_path", "max_fail", "unlock_time",
        "pin_prompt", "otp_prompt", "store", "store_password_file", "store_timeout",
        "remember", "notify",
    ]

    /// Sets `key` to `value` in `config`; throws a `ConfigError` naming the key and the rule.
    public static func apply(_ key: String, _ value: String, to config: inout Config) throws {
        switch key {
        case "mail_server":
            guard !value.isEmpty, value.utf8.count <= 253,
                  value.unicodeScalars.allSatisfy({ isHostCharacter($0) }) else {
                throw ConfigError("mail_server: \"\(LogText.printable(value))\" is not a host name or IP address")
            }
            config.mailServer = value
        case "mail_port": config.mailPort = Int(try integer(key, value, 1...65535))
        case "mail_user": config.mailUser = try text(key, value, maxBytes: 256)
        case "mail_password": config.mailPassword = try text(key, value, maxBytes: 1024)
        case "mail_password_file": config.mailPasswordFile = try path(key, value)
        case "mail_sender":
            guard value.isEmpty || EmailAddress.isValid(value) else {
                throw ConfigError("mail_sender: \"\(LogText.printable(value))\" is not a mail address")
            }
            config.mailSender = value
        case "mail_tls":
            guard let mode = TLSMode(rawValue: value) else {
                throw ConfigError("mail_tls: \"\(LogText.printable(value))\" is not none, starttls or tls")
            }
            config.mailTLS = mode
        case "mail_ca_file": config.mailCAFile = try path(key, value)
        case "mail_timeout": config.mailTimeout = try integer(key, value, 1...120)
        case "mail_transport":
            if value == "smtp" {
                config.mailTransport = .smtp
            } else if value == "sendmail" {
                config.mailTransport = .sendmail
            } else if ByteText.hasPrefix(value, "maildir:") {
                config.mailTransport = .maildir(try path(key, String(ByteText.split(value, at: 0x3A, maxSplits: 1).last ?? "")))
            } else {
                throw ConfigError("mail_transport: \"\(LogText.printable(value))\" is not smtp, sendmail or maildir:/path")
            }
        case "mail_subject": config.mailSubject = try text(key, value, maxBytes: 200)
        case "mail_template": config.mailTemplate = try path(key, value)
        case "mail_html_template": config.mailHTMLTemplate = try path(key, value)
        case "otp_validity": config.otpValidity = try integer(key, value, 30...86400)
        case "otp_length": config.otpLength = Int(try integer(key, value, 6...10))
        case "otp_tries": config.otpTries = Int(try integer(key, value, 1...10))
        case "concurrent_challenges": config.concurrentChallenges = try boolean(key, value)
        case "max_open_challenges": config.maxOpenChallenges = Int(try integer(key, value, 1...100))
        case "resend_interval": config.resendInterval = try integer(key, value, 0...3600)
        case "max_mails_per_hour": config.maxMailsPerHour = Int(try integer(key, value, 1...1000))
        case "mask_address": config.maskAddress = try boolean(key, value)
        case "sendmail_path": config.sendmailPath = try path(key, value)
        case "max_fail": config.maxFail = Int(try integer(key, value, 1...1000))
        case "unlock_time": config.unlockTime = try integer(key, value, 0...31_536_000)
        case "pin_prompt": config.pinPrompt = try text(key, value, maxBytes: 200)
        case "otp_prompt": config.otpPrompt = try text(key, value, maxBytes: 200)
        case "store": config.store = try StoreLocation.validate(value)
        case "store_password_file": config.storePasswordFile = try path(key, value)
        case "store_timeout": config.storeTimeout = try integer(key, value, 1...60)
        case "remember": config.remember = try integer(key, value, 0...2_592_000)
        case "notify": config.notify = try NotifyEvent.list(value)
        default:
            throw ConfigError("unknown setting \"\(LogText.printable(key))\"")
        }
    }

    static func integer(_ key: String, _ value: String, _ range: ClosedRange<Int64>) throws -> Int64 {
        guard let number = parseInteger(value, in: range) else {
            throw ConfigError("\(key): \"\(LogText.printable(value))\" is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    static func boolean(_ key: String, _ value: String) throws -> Bool {
        // ASCII case folding only: Unicode would fold the Kelvin sign into "k".
        switch String(decoding: value.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self) {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigError("\(key): \"\(LogText.printable(value))\" is not true or false")
        }
    }

    static func text(_ key: String, _ value: String, maxBytes: Int) throws -> String {
        guard !value.hasControlCharacters else { throw ConfigError("\(key): the value holds control characters") }
        guard value.utf8.count <= maxBytes else { throw ConfigError("\(key): the value is longer than \(maxBytes) bytes") }
        return value
    }

    static func path(_ key: String, _ value: String) throws -> String {
        // An empty value means "not set" for the optional files (their default is empty).
        if value.isEmpty && ["mail_password_file", "mail_ca_file", "mail_template", "mail_html_template", "store_password_file"].contains(key) {
            return ""
        }
        guard ByteText.hasPrefix(value, "/"), !value.hasControlCharacters, value.utf8.count <= 4096 else {
            throw ConfigError("\(key): \"\(LogText.printable(value))\" is not an absolute path")
        }
        return value
    }

    static func isHostCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "-", ":", "[", "]": return true
        default: return false
        }
    }
}
