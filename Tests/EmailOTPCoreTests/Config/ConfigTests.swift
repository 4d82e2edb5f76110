import Glibc
import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPSystem

/// `emailotp.conf`: every key, defaults, syntax, overrides, the password and permission rules.
final class ConfigTests: TempDirTestCase {
    var loader: ConfigLoader { ConfigLoader(owner: geteuid()) }
    var path: String { "\(root)/emailotp.conf" }

    func load(_ text: String, mode: mode_t = 0o600, overrides: [(key: String, value: String)] = []) throws -> Config {
        try writeFile(path, text, mode: mode)
        return try loader.load(path: path, explicit: true, overrides: overrides)
    }

    func assertRefused(_ text: String, mode: mode_t = 0o600, overrides: [(key: String, value: String)] = [],
                       mentioning: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(text, mode: mode, overrides: overrides), file: file, line: line) { error in
            guard let error = error as? ConfigError else { return XCTFail("not a ConfigError: \(error)", file: file, line: line) }
            if let word = mentioning {
                XCTAssertTrue(error.message.contains(word), "\"\(error.message)\" lacks \"\(word)\"", file: file, line: line)
            }
        }
    }

    // MARK: every key

    /// key → (good value, check of the good value, bad values)
    var table: [String: (good: String, check: (Config) -> Bool, bad: [String])] {
        [
            "mail_server": ("smtp.example.org", { $0.mailServer == "smtp.example.org" }, ["", "smtp example.org", "a/b", "host;rm", String(repeating: "a", count: 254)]),
            "mail_port": ("2525", { $0.mailPort == 2525 && $0.effectivePort == 2525 }, ["0", "65536", "-25", "x", "25x", "2.5", "99999999999999999999999"]),
            "mail_user": ("otp-mailer", { $0.mailUser == "otp-mailer" }, ["a\u{1}b", String(repeating: "u", count: 257)]),
            "mail_password": ("s3cret", { $0.mailPassword == "s3cret" }, ["pass\u{7F}word", String(repeating: "p", count: 1025)]),
            "mail_password_file": ("/etc/security/emailotp.pw", { $0.mailPasswordFile == "/etc/security/emailotp.pw" }, ["emailotp.pw", "./pw", "~/pw"]),
            "mail_sender": ("otp@example.org", { $0.mailSender == "otp@example.org" && $0.effectiveSender == "otp@example.org" },
                            ["not an address", "OTP <otp@example.org>", "otp@example.org\u{1}", "otp@"]),
            "mail_tls": ("starttls", { $0.mailTLS == .starttls }, ["ssl", "STARTTLS", "yes", ""]),
            "mail_ca_file": ("/etc/ssl/certs/ca.pem", { $0.mailCAFile == "/etc/ssl/certs/ca.pem" }, ["ca.pem"]),
            "mail_timeout": ("60", { $0.mailTimeout == 60 }, ["0", "121", "ten", "-1"]),
            "mail_transport": ("maildir:/var/mail/otp", { $0.mailTransport == .maildir("/var/mail/otp") },
                               ["lmtp", "maildir:", "maildir:relative", "SMTP", ""]),
            "mail_subject": ("Code for {user}", { $0.mailSubject == "Code for {user}" }, ["a\u{1B}b", String(repeating: "s", count: 201)]),
            "mail_template": ("/etc/emailotp/mail.txt", { $0.mailTemplate == "/etc/emailotp/mail.txt" }, ["mail.txt"]),
            "mail_html_template": ("/etc/emailotp/mail.html", { $0.mailHTMLTemplate == "/etc/emailotp/mail.html" }, ["mail.html"]),
            "otp_validity": ("600", { $0.otpValidity == 600 }, ["29", "86401", "5m", ""]),
            "otp_length": ("8", { $0.otpLength == 8 }, ["5", "11", "six"]),
            "otp_tries": ("5", { $0.otpTries == 5 }, ["0", "11"]),
            "concurrent_challenges": ("yes", { $0.concurrentChallenges }, ["maybe", "2", ""]),
            "max_open_challenges": ("10", { $0.maxOpenChallenges == 10 }, ["0", "101"]),
            "resend_interval": ("0", { $0.resendInterval == 0 }, ["-1", "3601"]),
            "max_mails_per_hour": ("100", { $0.maxMailsPerHour == 100 }, ["0", "1001"]),
            "mask_address": ("off", { !$0.maskAddress }, ["2", "nope"]),
            "sendmail_path": ("/usr/lib/sendmail", { $0.sendmailPath == "/usr/lib/sendmail" }, ["sendmail", ""]),
            "max_fail": ("5", { $0.maxFail == 5 }, ["0", "1001"]),
            "max_fail_source": ("3", { $0.maxFailSource == 3 }, ["0", "1001", "x"]),
            "unlock_time": ("0", { $0.unlockTime == 0 }, ["-5", "31536001"]),
            "pin_prompt": ("Token PIN: ", { $0.pinPrompt == "Token PIN: " }, ["PIN\n", "\u{7}", String(repeating: "p", count: 201)]),
            "otp_prompt": ("Code: ", { $0.otpPrompt == "Code: " }, ["Code\r", String(repeating: "c", count: 201)]),
            "store": ("/srv/emailotp", { $0.store == "/srv/emailotp" }, ["var/lib/emailotp", "", "mysql://db/x",
                                                                     "postgresql://u:secret@db/emailotp",
                                                                     "postgresql://u@db/emailotp?sslmode=require&password=x",
                                                                     "postgres://u@db/e?pass%77ord=x", "postgresql://db/e\n"]),
            "store_password_file": ("/etc/security/emailotp-db.pw", { $0.storePasswordFile == "/etc/security/emailotp-db.pw" },
                                    ["relative/pw", "/x\u{1}"]),
            "store_timeout": ("12", { $0.storeTimeout == 12 }, ["0", "61", "5s", ""]),
            "remember": ("3600", { $0.remember == 3600 }, ["-1", "2592001", "1h", ""]),
            "notify": ("new_host, lockout", { $0.notify == [.newHost, .lockout] }, ["mail", "lockout,,recovery", "LOCKOUT"]),
            "address_command": ("/usr/local/libexec/mail-of", { $0.addressCommand == "/usr/local/libexec/mail-of" }, ["mail-of", "./x"]),
            "address_command_user": ("ldaplookup", { $0.addressCommandUser == "ldaplookup" }, ["", "a b", "a\u{1}"]),
            "address_command_timeout": ("10", { $0.addressCommandTimeout == 10 }, ["0", "61", "5s"]),
            "enroll_at_login": ("yes", { $0.enrollAtLogin }, ["maybe", ""]),
            "auth_cache": ("3600", { $0.authCache == 3600 }, ["-1", "86401", "1h"]),
            "grant_scope": ("Fleet", { $0.grantScope == .fleet }, ["", "hosts", "everywhere"]),
            "host_id": ("web-07", { $0.hostID == "web-07" }, ["a b", "x\u{1}", String(repeating: "h", count: 256)]),
            "fail_delay": ("0", { $0.failDelay == 0 }, ["-1", "31", "2s"]),
            "groups": ("admins,!contractors", { $0.groups == GroupRule(included: ["admins"], excluded: ["contractors"]) }, ["a,,b", "!", "a:b"]),
            "trusted_networks": ("10.0.0.0/8,2001:db8::/32", { $0.trustedNetworks.text == "10.0.0.0/8,2001:db8::/32" },
                                 ["10.0.0.1/8", "intranet.example.org", "10.0.0.0/33"]),
            "helper_group": ("emailotp-web", { $0.helperGroup == "emailotp-web" }, ["Web", "a b", "-x"]),
        ]
    }

    func testTheTableCoversEveryKey() {
        XCTAssertEqual(Set(table.keys), Set(ConfigKeys.all))
        XCTAssertEqual(ConfigKeys.all.count, Set(ConfigKeys.all).count)
    }

    func testEveryKeyAcceptsAGoodValue() throws {
        for key in ConfigKeys.all {
            let entry = try XCTUnwrap(table[key], key)
            var config = Config()
            XCTAssertNoThrow(try ConfigKeys.apply(key, entry.good, to: &config), key)
            XCTAssertTrue(entry.check(config), key)
        }
    }

    func testEveryKeyRefusesBadValues() throws {
        for key in ConfigKeys.all {
            let entry = try XCTUnwrap(table[key], key)
            XCTAssertFalse(entry.bad.isEmpty, key)
            for bad in entry.bad {
                var config = Config()
                XCTAssertThrowsError(try ConfigKeys.apply(key, bad, to: &config), "\(key) = \(bad)") { error in
                    XCTAssertTrue((error as? ConfigError)?.message.contains(key) ?? false, "the error names \(key): \(error)")
                }
            }
        }
    }

    func testMoreValueForms() throws {
        var config = Config()
        for (value, expected) in [("true", true), ("false", false), ("yes", true), ("no", false), ("1", true), ("0", false),
                                  ("on", true), ("off", false), ("TRUE", true), ("Off", false)] {
            try ConfigKeys.apply("concurrent_challenges", value, to: &config)
            XCTAssertEqual(config.concurrentChallenges, expected, value)
        }
        for mode in TLSMode.allCases {
            try ConfigKeys.apply("mail_tls", mode.rawValue, to: &config)
            XCTAssertEqual(config.mailTLS, mode)
        }
        try ConfigKeys.apply("mail_transport", "sendmail", to: &config)
        XCTAssertEqual(config.mailTransport, .sendmail)
        try ConfigKeys.apply("mail_transport", "smtp", to: &config)
        XCTAssertEqual(config.mailTransport, .smtp)
        for server in ["127.0.0.1", "::1", "[::1]", "mail-1.example.org", "2001:db8::25"] {
            XCTAssertNoThrow(try ConfigKeys.apply("mail_server", server, to: &config), server)
        }
        for (key, low, high) in [("mail_port", "1", "65535"), ("otp_validity", "30", "86400"), ("otp_length", "6", "10"),
                                 ("otp_tries", "1", "10"), ("max_fail", "1", "1000"), ("unlock_time", "0", "31536000"),
                                 ("mail_timeout", "1", "120"), ("resend_interval", "0", "3600"),
                                 ("max_open_challenges", "1", "100"), ("max_mails_per_hour", "1", "1000")] {
            XCTAssertNoThrow(try ConfigKeys.apply(key, low, to: &config), "\(key) = \(low)")
            XCTAssertNoThrow(try ConfigKeys.apply(key, high, to: &config), "\(key) = \(high)")
        }
        // Empty optional paths mean "not set".
        for key in ["mail_password_file", "mail_ca_file", "mail_template", "mail_html_template"] {
            XCTAssertNoThrow(try ConfigKeys.apply(key, "", to: &config), key)
        }
    }

    func testUnknownKeyIsRefusedByApply() {
        var config = Config()
        XCTAssertThrowsError(try ConfigKeys.apply("mail_serv", "x", to: &config))
    }

    // MARK: defaults

    func testMissingDefaultFileMeansDefaults() throws {
        let config = try loader.load(path: "\(root)/absent.conf", explicit: false)
        XCTAssertEqual(config.mailServer, "localhost")
        XCTAssertNil(config.mailPort)
        XCTAssertEqual(config.effectivePort, 25)
        XCTAssertEqual(config.mailUser, "")
        XCTAssertEqual(config.mailPassword, "")
        XCTAssertEqual(config.mailPasswordFile, "")
        XCTAssertEqual(config.mailSender, "")
        let hostSender = "root@\(Host.name())"
        XCTAssertEqual(config.effectiveSender, EmailAddress.isValid(hostSender) ? hostSender : "root@localhost")
        XCTAssertTrue(EmailAddress.isValid(config.effectiveSender), "the default sender is always a valid address")
        XCTAssertEqual(config.mailTLS, .none)
        XCTAssertEqual(config.mailCAFile, "")
        XCTAssertEqual(config.mailTimeout, 10)
        XCTAssertEqual(config.mailTransport, .smtp)
        XCTAssertEqual(config.mailSubject, "Your one-time code for {service} on {host}")
        XCTAssertEqual(config.mailTemplate, "")
        XCTAssertEqual(config.mailHTMLTemplate, "")
        XCTAssertEqual(config.otpValidity, 300)
        XCTAssertEqual(config.otpLength, 6)
        XCTAssertEqual(config.otpTries, 3)
        XCTAssertFalse(config.concurrentChallenges)
        XCTAssertEqual(config.maxOpenChallenges, 5)
        XCTAssertEqual(config.resendInterval, 30)
        XCTAssertEqual(config.maxMailsPerHour, 10)
        XCTAssertTrue(config.maskAddress)
        XCTAssertEqual(config.sendmailPath, "/usr/sbin/sendmail")
        XCTAssertEqual(config.maxFail, 100)
        XCTAssertEqual(config.maxFailSource, 10)
        XCTAssertEqual(config.unlockTime, 900)
        XCTAssertEqual(config.pinPrompt, "PIN: ")
        XCTAssertEqual(config.otpPrompt, "Email code: ")
        XCTAssertEqual(config.store, "/var/lib/emailotp")
        XCTAssertFalse(config.storeIsDatabase)
        XCTAssertEqual(config.storePasswordFile, "")
        XCTAssertEqual(config.storeTimeout, 5)
        XCTAssertEqual(config.textTemplate, "")
        XCTAssertEqual(config.htmlTemplate, "")
    }

    func testEmptyFileMeansDefaults() throws {
        let config = try load("")
        XCTAssertEqual(config.otpValidity, 300)
        XCTAssertEqual(config.mailServer, "localhost")
    }

    func testDefaultPortFollowsTLSMode() throws {
        XCTAssertEqual(try load("mail_tls = tls\n").effectivePort, 465)
        XCTAssertEqual(try load("mail_tls = starttls\n").effectivePort, 587)
        XCTAssertEqual(try load("mail_tls = none\n").effectivePort, 25)
        XCTAssertEqual(try load("mail_tls = tls\nmail_port = 2465\n").effectivePort, 2465)
    }

    func testMissingExplicitFileIsAnError() {
        XCTAssertThrowsError(try loader.load(path: "\(root)/absent.conf", explicit: true)) { error in
            XCTAssertTrue("\(error)".contains("absent.conf"))
        }
    }

    // MARK: syntax

    func testEveryKeyInAFile() throws {
        try writeFile("\(root)/pw", "from-file\n")
        try writeFile("\(root)/mail.txt", "Text {otp}\n", mode: 0o644)
        try writeFile("\(root)/mail.html", "<p>{otp}</p>\n", mode: 0o644)
        let config = try load("""
        mail_server = smtp.example.org
        mail_port = 2525
        mail_user = otp-mailer
        mail_password = inline
        mail_password_file = \(root)/pw
        mail_sender = otp@example.org
        mail_tls = starttls
        mail_ca_file = /etc/ssl/certs/ca.pem
        mail_timeout = 20
        mail_transport = smtp
        mail_subject = Code for {user}
        mail_template = \(root)/mail.txt
        mail_html_template = \(root)/mail.html
        otp_validity = 600
        otp_length = 8
        otp_tries = 5
        concurrent_challenges = on
        max_open_challenges = 7
        resend_interval = 45
        max_mails_per_hour = 20
        mask_address = no
        sendmail_path = /usr/lib/sendmail
        max_fail = 6
        unlock_time = 60
        pin_prompt = "Token PIN: "
        otp_prompt = "Mail code: "
        store = /srv/emailotp

        """)
        XCTAssertEqual(config.mailServer, "smtp.example.org")
        XCTAssertEqual(config.effectivePort, 2525)
        XCTAssertEqual(config.mailUser, "otp-mailer")
        XCTAssertEqual(config.mailPassword, "from-file", "the password file wins and loses its newline")
        XCTAssertEqual(config.mailSender, "otp@example.org")
        XCTAssertEqual(config.mailTLS, .starttls)
        XCTAssertEqual(config.mailCAFile, "/etc/ssl/certs/ca.pem")
        XCTAssertEqual(config.mailTimeout, 20)
        XCTAssertEqual(config.mailTransport, .smtp)
        XCTAssertEqual(config.mailSubject, "Code for {user}")
        XCTAssertEqual(config.textTemplate, "Text {otp}\n")
        XCTAssertEqual(config.htmlTemplate, "<p>{otp}</p>\n")
        XCTAssertEqual(config.otpValidity, 600)
        XCTAssertEqual(config.otpLength, 8)
        XCTAssertEqual(config.otpTries, 5)
        XCTAssertTrue(config.concurrentChallenges)
        XCTAssertEqual(config.maxOpenChallenges, 7)
        XCTAssertEqual(config.resendInterval, 45)
        XCTAssertEqual(config.maxMailsPerHour, 20)
        XCTAssertFalse(config.maskAddress)
        XCTAssertEqual(config.sendmailPath, "/usr/lib/sendmail")
        XCTAssertEqual(config.maxFail, 6)
        XCTAssertEqual(config.unlockTime, 60)
        XCTAssertEqual(config.pinPrompt, "Token PIN: ")
        XCTAssertEqual(config.otpPrompt, "Mail code: ")
        XCTAssertEqual(config.store, "/srv/emailotp")
    }

    func testBadValueInAFileNamesFileAndLine() {
        assertRefused("# comment\n\notp_length = 12\n", mentioning: "emailotp.conf:3")
        assertRefused("otp_length = 12\n", mentioning: "otp_length")
    }

    func testDuplicateKeyIsRefused() {
        assertRefused("otp_length = 6\nmax_fail = 3\notp_length = 8\n", mentioning: ":3")
        assertRefused("otp_length = 6\notp_length = 6\n", mentioning: "twice")
    }

    func testUnknownKeyIsRefused() {
        assertRefused("otp_lenght = 6\n", mentioning: "otp_lenght")
        assertRefused("mail_server = localhost\nMAIL_PORT = 25\n", mentioning: ":2")
    }

    func testLineWithoutEqualsIsRefused() {
        assertRefused("otp_length 6\n", mentioning: ":1")
        assertRefused("debug\n")
    }

    func testQuotes() throws {
        XCTAssertEqual(try load("pin_prompt = \"PIN: \"\n").pinPrompt, "PIN: ", "quotes keep a trailing space")
        XCTAssertEqual(try load("pin_prompt = \"  Your PIN:  \"\n").pinPrompt, "  Your PIN:  ")
        XCTAssertEqual(try load("mail_subject = \"Code \"for\" you\"\n").mailSubject, "Code \"for\" you")
        XCTAssertEqual(try load("mail_user = \"\"\n").mailUser, "")
        XCTAssertEqual(try load("mail_subject = \"unbalanced\n").mailSubject, "\"unbalanced")
        XCTAssertEqual(try load("otp_length = \"8\"\n").otpLength, 8)
        XCTAssertEqual(try load("pin_prompt = PIN: \n").pinPrompt, "PIN:", "unquoted values are trimmed")
    }

    /// Found by fuzz/Targets/config.swift: a quoted value starting with a combining mark (or
    /// ending in a prepended mark) kept its quotes, since the quote and the mark are one Character.
    func testQuotesAroundCombiningMarks() throws {
        XCTAssertEqual(try load("mail_subject = \"\u{301}Code\"\n").mailSubject, "\u{301}Code")
        XCTAssertEqual(try load("mail_subject = \"Code\u{600}\"\n").mailSubject, "Code\u{600}")
    }

    func testCommentsBlankLinesAndWhitespace() throws {
        let config = try load("""
        # pam_emailotp configuration
           # indented comment
        #otp_length = 9

        \totp_length\t=\t7\t
        max_fail=4
        mail_subject = a # b

        """)
        XCTAssertEqual(config.otpLength, 7)
        XCTAssertEqual(config.maxFail, 4)
        XCTAssertEqual(config.mailSubject, "a # b", "# starts a comment only at the start of a line")
    }

    func testCRLFLineEnds() throws {
        let config = try load("otp_length = 7\r\nmax_fail = 4\r\n")
        XCTAssertEqual(config.otpLength, 7)
        XCTAssertEqual(config.maxFail, 4)
    }

    func testValueMayHoldEquals() throws {
        XCTAssertEqual(try load("mail_subject = a=b\n").mailSubject, "a=b")
    }

    // MARK: overrides (module arguments)

    func testModuleArgumentsOverrideTheFile() throws {
        let config = try load("otp_length = 7\nmax_fail = 4\n", overrides: [("otp_length", "8"), ("mail_server", "10.0.0.25")])
        XCTAssertEqual(config.otpLength, 8)
        XCTAssertEqual(config.maxFail, 4)
        XCTAssertEqual(config.mailServer, "10.0.0.25")
    }

    func testOverridesApplyWithoutAFile() throws {
        let config = try loader.load(path: "\(root)/absent.conf", overrides: [("otp_validity", "120")])
        XCTAssertEqual(config.otpValidity, 120)
    }

    func testBadOverrideIsRefused() {
        assertRefused("", overrides: [("otp_length", "99")], mentioning: "otp_length")
        assertRefused("", overrides: [("no_such_key", "1")])
    }

    func testMailPasswordAsModuleArgumentIsRefused() throws {
        let options = try ModuleOptions(arguments: ["mail_user=u", "mail_password=secret", "mail_server=127.0.0.1"])
        assertRefused("", overrides: options.overrides, mentioning: "mail_password")
        assertRefused("mail_user = u\nmail_password = x\n", overrides: [("mail_password", "y")], mentioning: "mail_password_file")
    }

    func testDatabaseStoreAndItsPasswordFile() throws {
        let uri = "postgresql://emailotp@db1.example.org,db2.example.org/emailotp?sslmode=verify-full&target_session_attrs=read-write"
        try writeFile("\(root)/db.pw", "s3cret\n", mode: 0o600)
        let config = try loader.load(path: "\(root)/absent.conf", overrides: [("store", uri), ("store_password_file", "\(root)/db.pw")])
        XCTAssertTrue(config.storeIsDatabase)
        XCTAssertEqual(config.store, uri)
        XCTAssertEqual(config.storePassword, "s3cret")
        XCTAssertTrue(try Config().with("store", "postgres://u@h/d").storeIsDatabase)
        try writeFile("\(root)/db.pw", "s3cret\n", mode: 0o640)
        XCTAssertThrowsError(try loader.load(path: "\(root)/absent.conf", overrides: [("store_password_file", "\(root)/db.pw")])) {
            XCTAssertTrue("\($0)".contains("store_password_file: refused"), "\($0)")
        }
    }

    func testModuleOptions() throws {
        let options = try ModuleOptions(arguments: ["debug", "nullok", "pin=none", "mode=challenge", "try_first_pass",
                                                    "config=/etc/security/other.conf", "otp_length=8", "mail_subject=a=b"])
        XCTAssertTrue(options.debug)
        XCTAssertTrue(options.nullok)
        XCTAssertEqual(options.pinMode, .none)
        XCTAssertEqual(options.mode, .challenge)
        XCTAssertEqual(options.firstPass, .try)
        XCTAssertEqual(options.configPath, "/etc/security/other.conf")
        XCTAssertTrue(options.configExplicit)
        XCTAssertEqual(options.overrides.map(\.key), ["otp_length", "mail_subject"])
        XCTAssertEqual(options.overrides.map(\.value), ["8", "a=b"])

        let defaults = try ModuleOptions(arguments: [])
        XCTAssertEqual(defaults.pinMode, .token)
        XCTAssertEqual(defaults.mode, .interactive)
        XCTAssertEqual(defaults.firstPass, .no)
        XCTAssertFalse(defaults.nullok)
        XCTAssertFalse(defaults.configExplicit)
        XCTAssertEqual(defaults.configPath, "/etc/security/emailotp.conf")
        XCTAssertEqual(try ModuleOptions(arguments: ["use_first_pass"]).firstPass, .use)
    }

    func testBadModuleArguments() {
        for arguments in [["nulok"], ["pin=maybe"], ["mode=batch"], ["config=relative.conf"], ["debug=1"], ["nullok=yes"],
                          ["unknown_key=1"], ["otp_length"], ["pin"], [""]] {
            XCTAssertThrowsError(try ModuleOptions(arguments: arguments), "\(arguments)")
        }
    }

    // MARK: passwords and TLS

    func testPasswordWithoutTLSToRemoteHostIsRefused() {
        assertRefused("mail_server = smtp.example.org\nmail_user = u\nmail_password = p\n", mentioning: "smtp.example.org")
        assertRefused("mail_server = 192.0.2.25\nmail_user = u\nmail_password = p\nmail_tls = none\n")
        assertRefused("mail_server = smtp.example.org\nmail_user = u\n", overrides: [("mail_password_file", "\(root)/pw")])
    }

    func testPasswordToALoopbackLookalikeHostIsRefused() {
        // "127.example.org" is a remote host whose name starts like a loopback address.
        assertRefused("mail_server = 127.example.org\nmail_user = u\nmail_password = p\n")
        assertRefused("mail_server = 127.0.0.1.example.org\nmail_user = u\nmail_password = p\n")
        assertRefused("mail_server = localhost.example.org\nmail_user = u\nmail_password = p\n")
    }

    func testPasswordWithoutTLSToLoopbackIsAllowed() throws {
        for server in ["127.0.0.1", "localhost", "::1", "127.0.0.2"] {
            let config = try load("mail_server = \(server)\nmail_user = u\nmail_password = p\n")
            XCTAssertEqual(config.mailPassword, "p")
        }
    }

    func testPasswordWithoutTLSToUnprivilegedLoopbackPortIsRefused() throws {
        // Any local user can bind 10025 while the relay is down and read AUTH PLAIN.
        for port in ["1024", "10025", "2525", "65535"] {
            assertRefused("mail_server = 127.0.0.1\nmail_port = \(port)\nmail_user = u\nmail_password = p\n")
        }
        XCTAssertEqual(try load("mail_server = 127.0.0.1\nmail_port = 587\nmail_user = u\nmail_password = p\n").mailPassword, "p")
        XCTAssertEqual(try load("mail_server = ::1\nmail_port = 1023\nmail_user = u\nmail_password = p\n").mailPassword, "p")
        // With TLS the port does not matter.
        XCTAssertEqual(try load("mail_server = 127.0.0.1\nmail_port = 10025\nmail_tls = starttls\nmail_user = u\nmail_password = p\n").mailPassword, "p")
    }

    func testPasswordWithTLSToRemoteHostIsAllowed() throws {
        XCTAssertEqual(try load("mail_server = smtp.example.org\nmail_user = u\nmail_password = p\nmail_tls = starttls\n").mailPassword, "p")
        XCTAssertEqual(try load("mail_server = smtp.example.org\nmail_user = u\nmail_password = p\nmail_tls = tls\n").mailPassword, "p")
    }

    func testPasswordWithoutUserIsRefused() {
        assertRefused("mail_password = p\n", mentioning: "mail_user")
    }

    func testPasswordFile() throws {
        try writeFile("\(root)/pw", "file-secret\n")
        let config = try load("mail_server = smtp.example.org\nmail_tls = tls\nmail_user = u\nmail_password_file = \(root)/pw\n",
                              mode: 0o644)
        XCTAssertEqual(config.mailPassword, "file-secret")
    }

    func testPasswordFileWithCRLFLineEnd() throws {
        try writeFile("\(root)/pw", "file-secret\r\n")
        let config = try load("mail_server = smtp.example.org\nmail_tls = tls\nmail_user = u\nmail_password_file = \(root)/pw\n",
                              mode: 0o644)
        XCTAssertEqual(config.mailPassword, "file-secret")
    }

    func testUnsafePasswordFilesAreRefused() throws {
        let text = "mail_tls = tls\nmail_user = u\nmail_password_file = \(root)/pw\n"
        try writeFile("\(root)/pw", "secret\n", mode: 0o640)
        assertRefused(text, mentioning: "mail_password_file")
        try writeFile("\(root)/pw", "secret\n", mode: 0o604)
        assertRefused(text)
        try writeFile("\(root)/pw", "", mode: 0o600)
        assertRefused(text)
        try writeFile("\(root)/pw", "two\nlines\n", mode: 0o600)
        assertRefused(text)
        unlink("\(root)/pw")
        assertRefused(text, mentioning: "does not exist")
        try writeFile("\(root)/real-pw", "secret\n")
        XCTAssertEqual(symlink("\(root)/real-pw", "\(root)/pw"), 0)
        assertRefused(text)
    }

    // MARK: file permissions

    func testGroupOrOtherWritableFileIsRefused() {
        for mode: mode_t in [0o620, 0o602, 0o660, 0o666, 0o622] {
            assertRefused("otp_length = 6\n", mode: mode)
        }
    }

    func testReadableFileWithoutPasswordIsAllowed() throws {
        XCTAssertEqual(try load("otp_length = 7\n", mode: 0o644).otpLength, 7)
        XCTAssertEqual(try load("otp_length = 7\n", mode: 0o400).otpLength, 7)
    }

    func testPasswordInGroupOrOtherReadableFileIsRefused() throws {
        let text = "mail_server = 127.0.0.1\nmail_user = u\nmail_password = p\n"
        for mode: mode_t in [0o640, 0o604, 0o644] {
            assertRefused(text, mode: mode)
        }
        XCTAssertEqual(try load(text, mode: 0o600).mailPassword, "p")
    }

    func testSymlinkedConfigIsRefused() throws {
        try writeFile("\(root)/real.conf", "otp_length = 7\n")
        XCTAssertEqual(symlink("\(root)/real.conf", path), 0)
        XCTAssertThrowsError(try loader.load(path: path, explicit: true))
        XCTAssertThrowsError(try loader.load(path: path, explicit: false), "a symlink is not a missing file")
    }

    func testConfigThatIsNotARegularFileIsRefused() throws {
        XCTAssertEqual(mkdir(path, 0o700), 0)
        XCTAssertThrowsError(try loader.load(path: path, explicit: true))
        rmdir(path)
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        XCTAssertThrowsError(try loader.load(path: path, explicit: true), "a FIFO is refused without blocking")
    }

    func testConfigOwnedByAnotherUserIsRefused() throws {
        try writeFile(path, "otp_length = 7\n")
        XCTAssertThrowsError(try ConfigLoader(owner: geteuid() &+ 1).load(path: path, explicit: true))
    }

    func testTemplatesAreLoadedAndCheckedLikeTheConfig() throws {
        try writeFile("\(root)/mail.txt", "Your code: {otp}\n", mode: 0o644)
        XCTAssertEqual(try load("mail_template = \(root)/mail.txt\n").textTemplate, "Your code: {otp}\n")
        try writeFile("\(root)/mail.txt", "Your code: {otp}\n", mode: 0o666)
        assertRefused("mail_template = \(root)/mail.txt\n", mentioning: "mail_template")
        assertRefused("mail_html_template = \(root)/missing.html\n", mentioning: "mail_html_template")
    }

    func testOversizedConfigIsRefused() {
        assertRefused(String(repeating: "# padding\n", count: 7000))
    }
}

extension Config {
    func with(_ key: String, _ value: String) throws -> Config {
        var copy = self
        try ConfigKeys.apply(key, value, to: &copy)
        return copy
    }
}
