import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPSystem

/// A mail that could not be composed or delivered, and why (for the log; the user sees a generic
/// message).
package struct MailError: Error, CustomStringConvertible, Equatable {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// Delivers one message; tests inject a recording one.
public protocol Mailer {
    func send(_ mail: OutgoingMail) throws
}

/// The transport that `mail_transport` names; `clock` and `random` name Maildir files.
package func makeMailer(_ config: Config, clock: Clock, random: RandomSource) -> Mailer {
    switch config.mailTransport {
    case .smtp: return SMTPMailer(config: config)
    case .sendmail: return SendmailMailer(path: config.sendmailPath, timeout: config.mailTimeout)
    case .maildir(let path): return MaildirMailer(directory: path, clock: clock, random: random)
    }
}

extension Config {
    /// Where `mail_transport` delivers, for log lines and `emailotp send-test` (never a password).
    package var transportDescription: String {
        switch mailTransport {
        case .smtp:
            return SMTPMailer(config: self).url
                + " (mail_tls=\(mailTLS.rawValue)\(mailUser.isEmpty ? "" : ", AUTH as \(mailUser)"))"
        case .sendmail: return sendmailPath
        case .maildir(let path): return "maildir \(path)"
        }
    }
}
