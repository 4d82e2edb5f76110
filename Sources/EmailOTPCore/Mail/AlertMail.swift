import EmailOTPSystem
import EmailOTPToken

/// The alert mails of `notify` (emailotp.conf(5)).
package enum AlertEvent: Equatable {
    case lockout
    case recovery(left: Int)
    case newHost
    /// A pending enrolment was activated by the user's first login (always mailed).
    case enrolled
    /// The user changed their own token with `emailotp` (`what`: "Your PIN was changed.").
    case ownToken(String)
    /// Mailed codes expired unused (`notify = unanswered`), oldest first.
    case unanswered([UnansweredCode])

    /// The `X-EmailOTP-Alert` header value.
    package var name: String {
        switch self {
        case .lockout: return "lockout"
        case .recovery: return "recovery"
        case .newHost: return "new_host"
        case .enrolled: return "enrolled"
        case .ownToken: return "own_token"
        case .unanswered: return "unanswered"
        }
    }

    /// Where the alert's login was asked from, when that is not the request that sends it.
    package var origin: ChallengeOrigin? {
        if case .unanswered(let codes) = self { return codes.last?.origin }
        return nil
    }

    var sentence: String {
        switch self {
        case .lockout:
            return "Your one-time code token was locked after too many failed logins."
        case .recovery(let left):
            return "A recovery code was used to log in. \(left == 1 ? "1 recovery code is" : "\(left) recovery codes are") left."
        case .newHost:
            return "A login succeeded from a remote host that is not among your last ten."
        case .enrolled:
            return "A one-time code token was set up for your account at its first login; codes now come to this address."
        case .ownToken(let what):
            return "\(what) It was done with the emailotp command by your own account."
        case .unanswered(let codes):
            let what = codes.count == 1 ? "A one-time code mailed to you expired without being used:"
                : "\(codes.count) one-time codes mailed to you expired without being used:"
            let lines = codes.map { code in
                "  mailed \(TimeFormat.local(code.created)) for \(Self.describe(code.origin))"
            }
            return ([what, ""] + lines + ["", "Whoever started such a login got past the first factor (your password, key or PIN) "
                + "and stopped at the code. If it was not you, change that password or PIN."]).joined(separator: "\n")
        }
    }

    /// "sshd from 192.0.2.7": PAM_SERVICE and PAM_RHOST as the application gave them, made printable.
    static func describe(_ origin: ChallengeOrigin) -> String {
        let service = origin.service.isEmpty ? "a login" : LogText.printable(origin.service)
        return origin.rhost.isEmpty ? "\(service) on this host" : "\(service) from \(LogText.printable(origin.rhost))"
    }
}

/// What one alert says.
package struct AlertMailContext {
    package var user: String
    package var address: String
    package var event: AlertEvent
    package var service: String
    package var rhost: String
    package var host: String
    package var time: Int64

    package init(user: String, address: String, event: AlertEvent, service: String, rhost: String, host: String, time: Int64) {
        self.user = user
        self.address = address
        self.event = event
        self.service = service
        self.rhost = rhost
        self.host = host
        self.time = time
    }
}

extension MailComposer {
    /// A short plain-text alert: what happened, where and when, and whom to tell.
    package func composeAlert(_ context: AlertMailContext) throws -> OutgoingMail {
        let sender = config.effectiveSender
        guard EmailAddress.isValid(context.address), EmailAddress.isValid(sender) else {
            throw MailError("refusing a mail address that is not a plain address")
        }
        // PAM_RHOST and PAM_SERVICE come from the application: shown, never trusted as text.
        let service = context.service.isEmpty ? "login" : LogText.printable(context.service)
        let rhost = context.rhost.isEmpty ? "this host" : LogText.printable(context.rhost)
        let user = LogText.printable(context.user)
        let host = LogText.printable(context.host)
        let subject = "Security alert for \(user) on \(host): \(context.event.name.replacingUnderscores)"
        let body = """
        Hello \(user),

        \(context.event.sentence)

          Host:        \(host)
          Service:     \(service)
          Remote host: \(rhost)
          Time:        \(TimeFormat.local(context.time))

        If this was not you, tell your administrator.
        """
        let lines = headerLines(from: sender, to: context.address, subject: subject, date: context.time,
                                token: Hex.encode(try random.bytes(12)), tag: "alert", host: host,
                                extra: ["X-EmailOTP-Alert: \(context.event.name)",
                                        "Content-Type: text/plain; charset=utf-8",
                                        "Content-Transfer-Encoding: quoted-printable"])
            + ["", MIMEEncoding.quotedPrintable(body)]
        return OutgoingMail(from: sender, to: context.address, text: lines.joined(separator: "\n") + "\n")
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}
