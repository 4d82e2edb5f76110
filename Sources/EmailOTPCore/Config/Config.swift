import EmailOTPSystem

package enum TLSMode: String, CaseIterable {
    case none, starttls, tls
}

package enum MailTransport: Equatable {
    case smtp
    case sendmail
    case maildir(String)
}

/// The built-in texts of the code mail, all in one place: the subject (`mail_subject`'s default)
/// and the bodies `MailComposer` uses when `mail_template` is not set. Placeholders:
/// emailotp.conf(5).
package enum CodeMailDefaults {
    package static let subject = "Your one-time code for {service} on {host}"

    /// The body in interactive mode.
    package static let text = codeLines + detailLines

    /// The body in challenge mode: the same, with how to finish the login.
    package static let challengeText = codeLines + "{finish}\n\n" + detailLines

    private static let codeLines = """
    Hello {user},

    Your one-time code for {service} on {host} is:

        {otp}


    """

    private static let detailLines = """
    It is valid for {validity} minutes, until {expires}.
    Transaction id: {transaction_id}
    Request from: {rhost}

    If you did not ask for this code, someone has used {first_factor}
    to log in to {service} on {host} from {rhost} and now waits for
    this code. Give the code to no one, change {first_factor} at once,
    and tell your administrator.

    """
}

/// Every setting of `emailotp.conf` (emailotp.conf(5); the keys are `ConfigKeys.table`), with its default.
public struct Config {
    package var mailServer = "localhost"
    package var mailPort: Int? = nil
    package var mailUser = ""
    package var mailPassword = ""
    package var mailPasswordFile = ""
    package var mailSender = ""
    package var mailTLS = TLSMode.none
    package var mailCAFile = ""
    package var mailTimeout: Int64 = 10
    package var mailTransport = MailTransport.smtp
    package var mailSubject = CodeMailDefaults.subject
    package var mailTemplate = ""
    package var mailHTMLTemplate = ""
    package var otpValidity: Int64 = 300
    package var otpLength = 6
    package var otpTries = 3
    package var concurrentChallenges = false
    package var maxOpenChallenges = 5
    package var resendInterval: Int64 = 30
    package var maxMailsPerHour = 10
    package var maskAddress = true
    package var sendmailPath = "/usr/sbin/sendmail"
    package var maxFail = 100
    package var maxFailSource = 10
    package var unlockTime: Int64 = 900
    package var pinPrompt = "PIN: "
    package var otpPrompt = "Email code: "
    package var store = BuildLayout.storePath
    package var storePasswordFile = ""
    package var storeTimeout: Int64 = 5
    /// Loaded from `store_password_file` (empty = none).
    package var storePassword = ""
    // Remembered hosts and alert mails (emailotp.conf(5), remember and notify).
    package var remember: Int64 = 0
    package var notify: Set<NotifyEvent> = [.lockout, .recovery]
    /// For tokens enrolled without an address (AddressCommand); empty = none.
    package var addressCommand = ""
    package var addressCommandUser = "emailotp-lookup"
    package var addressCommandTimeout: Int64 = 5
    /// A user without a token whose address `address_command` gives is enrolled at the first login.
    package var enrollAtLogin = false
    /// Seconds a granted PIN + code keeps granting the same password (0 = off).
    package var authCache: Int64 = 0
    /// Whether `remember` and `auth_cache` grants made on one host of a shared store serve
    /// that host only (the default) or every host of the fleet.
    package var grantScope = GrantScope.host
    /// The identity grants are scoped to; empty: `Host.identity` (the machine id).
    package var hostID = ""
    /// Who is asked (empty: everyone) and from where no code is asked (emailotp.conf(5)).
    package var groups = GroupRule()
    package var trustedNetworks = TrustedNetworks()
    /// Seconds libpam waits after a real failure (`pam_fail_delay`); the challenge trigger waits none.
    package var failDelay: Int64 = 2
    /// The group whose members may use the setuid helper (empty: nobody but root).
    package var helperGroup = ""

    /// Loaded from the files named by `mail_template` / `mail_html_template` (empty = built in).
    package var textTemplate = ""
    package var htmlTemplate = ""

    package init() {}

    /// True when `store` names a PostgreSQL database rather than a directory.
    package var storeIsDatabase: Bool { StoreLocation.isDatabaseURI(store) }

    /// The host a `remember` or `auth_cache` grant is bound to, besides user, service and
    /// remote host: this host's identity on a database store with `grant_scope = host`; nil
    /// for `fleet`, and for a file store, whose code key is the host's own already (its
    /// grants keep the ids they had).
    package var grantHost: String? {
        guard storeIsDatabase, grantScope == .host else { return nil }
        return hostID.isEmpty ? Host.identity : hostID
    }

    /// The SMTP port: the configured one, or the default for the TLS mode.
    package var effectivePort: Int {
        if let port = mailPort { return port }
        switch mailTLS {
        case .none: return 25
        case .starttls: return 587
        case .tls: return 465
        }
    }

    /// The From address: the configured one, or `root@<hostname>`.
    package var effectiveSender: String {
        if !mailSender.isEmpty { return mailSender }
        // A host name that is no mail domain (an underscore, say) must not break every mail.
        let candidate = "root@\(Host.name())"
        return EmailAddress.isValid(candidate) ? candidate : "root@localhost"
    }

    /// True when the mail server is this host, where a password never crosses a network.
    package var mailServerIsLoopback: Bool {
        let host = ByteText.asciiLowercased(mailServer)
        // 127.x.y.z only: a host name such as "127.example.org" is not loopback.
        let ipv4Loopback = ByteText.hasPrefix(host, "127.") && ByteText.split(host, at: 0x2E).count == 4
            && host.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }
        return host == "localhost" || host == "::1" || host == "[::1]" || ipv4Loopback
    }
}

extension Config {
    /// True when unencrypted SMTP goes to this host on a port below 1024, which only root can
    /// bind: nobody else can stand in for the relay and read the password or the code.
    package var plaintextGoesToPrivilegedLoopback: Bool {
        mailServerIsLoopback && effectivePort < 1024
    }
}

/// `grant_scope` (emailotp.conf(5)).
package enum GrantScope: String, Sendable {
    case host
    case fleet
}
