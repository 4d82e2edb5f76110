import EmailOTPSystem

/// One bad setting: where it came from and why it is refused.
package struct ConfigError: Error, CustomStringConvertible, Equatable {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// One key of `emailotp.conf`: its name and how a value is checked and stored.
package struct ConfigKey {
    package let name: String
    let set: (_ key: String, _ value: String, _ config: inout Config) throws -> Void

    init(_ name: String, _ set: @escaping (_ key: String, _ value: String, _ config: inout Config) throws -> Void) {
        self.name = name
        self.set = set
    }
}

/// Applies `key = value` settings to a `Config`, validating each value.
package enum ConfigKeys {
    /// Every key, in the order of emailotp.conf(5): the one list of names. The parser, the
    /// module arguments and `apply` read it; IntegrationTests/test_docs.py checks DESIGN.md,
    /// emailotp.conf(5) and etc/emailotp.conf against it.
    package static let table: [ConfigKey] = [
        ConfigKey("mail_server") { key, value, config in
            guard !value.isEmpty, value.utf8.count <= 253,
                  value.unicodeScalars.allSatisfy({ isHostCharacter($0) }) else {
                throw ConfigError("\(key): \"\(LogText.printable(value))\" is not a host name or IP address")
            }
            config.mailServer = value
        },
        ConfigKey("mail_port") { key, value, config in config.mailPort = Int(try integer(key, value, 1...65535)) },
        ConfigKey("mail_user") { key, value, config in config.mailUser = try text(key, value, maxBytes: 256) },
        ConfigKey("mail_password") { key, value, config in config.mailPassword = try text(key, value, maxBytes: 1024) },
        ConfigKey("mail_password_file") { key, value, config in config.mailPasswordFile = try optionalPath(key, value) },
        ConfigKey("mail_sender") { key, value, config in
            guard value.isEmpty || EmailAddress.isValid(value) else {
                throw ConfigError("\(key): \"\(LogText.printable(value))\" is not a mail address")
            }
            config.mailSender = value
        },
        ConfigKey("mail_tls") { key, value, config in
            guard let mode = TLSMode.allCases.first(where: { ByteText.same($0.rawValue, value) }) else {
                throw ConfigError("\(key): \"\(LogText.printable(value))\" is not none, starttls or tls")
            }
            config.mailTLS = mode
        },
        ConfigKey("mail_ca_file") { key, value, config in config.mailCAFile = try optionalPath(key, value) },
        ConfigKey("mail_timeout") { key, value, config in config.mailTimeout = try integer(key, value, 1...120) },
        ConfigKey("mail_transport") { key, value, config in
            if ByteText.same(value, "smtp") {
                config.mailTransport = .smtp
            } else if ByteText.same(value, "sendmail") {
                config.mailTransport = .sendmail
            } else if ByteText.hasPrefix(value, "maildir:") {
                config.mailTransport = .maildir(try path(key, String(ByteText.split(value, at: 0x3A, maxSplits: 1).last ?? "")))
            } else {
                throw ConfigError("\(key): \"\(LogText.printable(value))\" is not smtp, sendmail or maildir:/path")
            }
        },
        ConfigKey("mail_subject") { key, value, config in config.mailSubject = try text(key, value, maxBytes: 200) },
        ConfigKey("mail_template") { key, value, config in config.mailTemplate = try optionalPath(key, value) },
        ConfigKey("mail_html_template") { key, value, config in config.mailHTMLTemplate = try optionalPath(key, value) },
        ConfigKey("otp_validity") { key, value, config in config.otpValidity = try integer(key, value, 30...86400) },
        ConfigKey("otp_length") { key, value, config in config.otpLength = Int(try integer(key, value, 6...10)) },
        ConfigKey("otp_tries") { key, value, config in config.otpTries = Int(try integer(key, value, 1...10)) },
        ConfigKey("concurrent_challenges") { key, value, config in config.concurrentChallenges = try boolean(key, value) },
        ConfigKey("max_open_challenges") { key, value, config in config.maxOpenChallenges = Int(try integer(key, value, 1...100)) },
        ConfigKey("resend_interval") { key, value, config in config.resendInterval = try integer(key, value, 0...3600) },
        ConfigKey("max_mails_per_hour") { key, value, config in config.maxMailsPerHour = Int(try integer(key, value, 1...1000)) },
        ConfigKey("mask_address") { key, value, config in config.maskAddress = try boolean(key, value) },
        ConfigKey("sendmail_path") { key, value, config in config.sendmailPath = try path(key, value) },
        ConfigKey("max_fail") { key, value, config in config.maxFail = Int(try integer(key, value, 1...1000)) },
        ConfigKey("max_fail_source") { key, value, config in config.maxFailSource = Int(try integer(key, value, 1...1000)) },
        ConfigKey("unlock_time") { key, value, config in config.unlockTime = try integer(key, value, 0...31_536_000) },
        ConfigKey("pin_prompt") { key, value, config in config.pinPrompt = try text(key, value, maxBytes: 200) },
        ConfigKey("otp_prompt") { key, value, config in config.otpPrompt = try text(key, value, maxBytes: 200) },
        ConfigKey("store") { _, value, config in config.store = try StoreLocation.validate(value) },
        ConfigKey("store_password_file") { key, value, config in config.storePasswordFile = try optionalPath(key, value) },
        ConfigKey("store_timeout") { key, value, config in config.storeTimeout = try integer(key, value, 1...60) },
        ConfigKey("remember") { key, value, config in config.remember = try integer(key, value, 0...2_592_000) },
        ConfigKey("notify") { _, value, config in config.notify = try NotifyEvent.list(value) },
        ConfigKey("address_command") { key, value, config in config.addressCommand = try optionalPath(key, value) },
        ConfigKey("address_command_user") { key, value, config in
            guard (try? UserName.validate(value)) != nil, !ByteText.contains(value, byte: ByteText.space) else {
                throw ConfigError("\(key): \"\(LogText.printable(value))\" is not a user name")
            }
            config.addressCommandUser = value
        },
        ConfigKey("address_command_timeout") { key, value, config in config.addressCommandTimeout = try integer(key, value, 1...60) },
        ConfigKey("enroll_at_login") { key, value, config in config.enrollAtLogin = try boolean(key, value) },
        ConfigKey("auth_cache") { key, value, config in config.authCache = try integer(key, value, 0...86400) },
        ConfigKey("grant_scope") { key, value, config in
            guard let scope = GrantScope(rawValue: ByteText.asciiLowercased(value)) else {
                throw ConfigError("\(key): \"\(LogText.printable(value))\" is not host or fleet")
            }
            config.grantScope = scope
        },
        ConfigKey("host_id") { key, value, config in
            guard !ByteText.contains(value, byte: ByteText.space) else { throw ConfigError("\(key): the value holds a space") }
            config.hostID = try text(key, value, maxBytes: 255)
        },
        ConfigKey("groups") { _, value, config in config.groups = try GroupRule.parse(value) },
        ConfigKey("trusted_networks") { _, value, config in config.trustedNetworks = try TrustedNetworks.parse(value) },
        ConfigKey("fail_delay") { key, value, config in config.failDelay = try integer(key, value, 0...30) },
        ConfigKey("helper_group") { key, value, config in
            guard value.isEmpty || UnixName.isValid(value) else {
                throw ConfigError("\(key): \"\(LogText.printable(value))\" is not a group name")
            }
            config.helperGroup = value
        },
    ]

    /// The names of `table`, in its order.
    package static let all = table.map(\.name)

    /// Sets `key` to `value` in `config`; throws a `ConfigError` naming the key and the rule.
    package static func apply(_ key: String, _ value: String, to config: inout Config) throws {
        guard let entry = table.first(where: { ByteText.same($0.name, key) }) else {
            throw ConfigError("unknown setting \"\(LogText.printable(key))\"")
        }
        try entry.set(entry.name, value, &config)
    }

    static func integer(_ key: String, _ value: String, _ range: ClosedRange<Int64>) throws -> Int64 {
        guard let number = parseInteger(value, in: range) else {
            throw ConfigError("\(key): \"\(LogText.printable(value))\" is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    static func boolean(_ key: String, _ value: String) throws -> Bool {
        switch ByteText.asciiLowercased(value) {
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

    /// A file that may be left unset: empty means "none" (the default).
    static func optionalPath(_ key: String, _ value: String) throws -> String {
        value.isEmpty ? "" : try path(key, value)
    }

    static func path(_ key: String, _ value: String) throws -> String {
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
