import EmailOTPSystem
import Glibc

/// The user at the other end of the PAM conversation (or of `emailotp check`).
public protocol Conversation {
    /// Asks a question; nil when the conversation failed or the user gave no answer.
    func prompt(_ text: String, echo: Bool) -> String?
    /// Shows a message (`PAM_TEXT_INFO`).
    func info(_ text: String)
    /// Shows an error (`PAM_ERROR_MSG`).
    func error(_ text: String)
}

/// A conversation that is told when a step only opened a challenge: that is no failure, and
/// the module asks libpam for no fail delay after it.
public protocol ChallengeAware {
    func challengeOpened()
}

public enum LogLevel: Int {
    case error, warning, notice, info, debug

    /// The syslog(3) priority of the level, for the module's and the helper's log lines.
    public var syslogPriority: Int32 {
        switch self {
        case .error: return LOG_ERR
        case .warning: return LOG_WARNING
        case .notice: return LOG_NOTICE
        case .info: return LOG_INFO
        case .debug: return LOG_DEBUG
        }
    }
}

/// Where outcomes are logged: syslog (`LOG_AUTHPRIV`) in the module, stderr in the command.
/// Lines never carry a PIN, a code or a password.
public protocol Logger {
    func log(_ level: LogLevel, _ message: String)
}

/// The PAM items a flow needs beyond the user name.
public struct RequestContext {
    public var service: String
    public var rhost: String
    public var host: String
    /// The application asked for silence or has no terminal: where the code went goes into
    /// the code prompt, never into a separate message (pam_emailotp(8), NOTES).
    public var quiet: Bool
    /// `PAM_TTY` and `PAM_RUSER`: with no remote host, the source a failure is counted for.
    public var tty: String
    public var ruser: String

    public init(service: String, rhost: String, host: String = Host.name(), quiet: Bool = false,
                tty: String = "", ruser: String = "") {
        self.service = service
        self.rhost = rhost
        self.host = host
        self.quiet = quiet
        self.tty = tty
        self.ruser = ruser
    }
}

extension RequestContext {
    /// One log line of a login: `user="alice" service="sshd" rhost="192.0.2.7": message`.
    func log(_ logger: Logger, _ level: LogLevel, _ user: String, _ message: String) {
        let shownService = service.isEmpty ? "" : " service=\(LogText.quoted(service))"
        let shownRHost = rhost.isEmpty ? "" : " rhost=\(LogText.quoted(rhost))"
        logger.log(level, "user=\(LogText.quoted(user))\(shownService)\(shownRHost): \(LogText.escaped(message))")
    }
}

/// What a flow ends with; the PAM boundary maps it to a PAM return code.
public enum AuthResult: Equatable, CustomStringConvertible {
    case success
    case authError
    case userUnknown
    case ignore
    case unavailable
    case serviceError
    case conversationError

    public var description: String {
        switch self {
        case .success: return "success"
        case .authError: return "authentication failure"
        case .userUnknown: return "user unknown"
        case .ignore: return "ignore"
        case .unavailable: return "authentication information unavailable"
        case .serviceError: return "service error"
        case .conversationError: return "conversation error"
        }
    }
}

extension AuthResult: Error {}
