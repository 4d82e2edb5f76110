import EmailOTPFlows

/// What the module and the setuid helper (`emailotp-helper`) say to each other when the module
/// runs in a process that is not root. The helper trusts nothing of it beyond the
/// request's four fields; it reads its settings from the system configuration only.
///
///     argv    emailotp-helper challenge [the module's arguments]
///     stdin   user NUL service NUL rhost NUL password NUL
///     stdout  at most one line: "info TEXT" or "error TEXT" (a message for the user)
///     status  HelperProtocol.status(of:)
public enum HelperProtocol {
    public static let verb = "challenge"
    static let maxFieldBytes = 4096

    public struct Request: Equatable {
        public var user: String
        public var service: String
        public var rhost: String
        public var password: String

        public init(user: String, service: String, rhost: String, password: String) {
            self.user = user
            self.service = service
            self.rhost = rhost
            self.password = password
        }
    }

    public struct Refused: Error, CustomStringConvertible, Equatable {
        public let reason: String
        public var description: String { reason }
    }

    public static func encode(_ request: Request) -> [UInt8] {
        var bytes = [UInt8]()
        for field in [request.user, request.service, request.rhost, request.password] {
            bytes += Array(field.utf8)
            bytes.append(0)
        }
        return bytes
    }

    /// Reads a request strictly: four fields, each NUL-terminated and at most 4 KiB; the
    /// service and remote host (they go into mails and log lines) without control characters.
    public static func decode(_ bytes: [UInt8]) throws -> Request {
        guard bytes.last == 0 else { throw Refused(reason: "request not NUL-terminated") }
        let fields = bytes.dropLast().split(separator: 0, omittingEmptySubsequences: false)
        guard fields.count == 4 else { throw Refused(reason: "request has \(fields.count) fields, not 4") }
        guard fields.allSatisfy({ $0.count <= maxFieldBytes }) else { throw Refused(reason: "request field too long") }
        let text = fields.map { String(decoding: $0, as: UTF8.self) }
        guard zip(fields, text).allSatisfy({ Array($0.0) == Array($0.1.utf8) }) else {
            throw Refused(reason: "request is not UTF-8")
        }
        guard !text[1].hasControlCharacters, !text[2].hasControlCharacters,
              text[1].utf8.count <= 256, text[2].utf8.count <= 256 else {
            throw Refused(reason: "service or remote host holds control characters or is too long")
        }
        return Request(user: text[0], service: text[1], rhost: text[2], password: text[3])
    }

    /// The exit status that carries a result.
    public static func status(of result: AuthResult) -> Int32 {
        switch result {
        case .success: return 0
        case .authError: return 1
        case .userUnknown: return 2
        case .ignore: return 3
        case .unavailable: return 4
        case .serviceError: return 5
        case .conversationError: return 6
        }
    }

    /// The result an exit status carries; anything unknown is a service error (fail closed).
    public static func result(ofStatus status: Int32) -> AuthResult {
        switch status {
        case 0: return .success
        case 1: return .authError
        case 2: return .userUnknown
        case 3: return .ignore
        case 4: return .unavailable
        case 6: return .conversationError
        default: return .serviceError
        }
    }

    /// The message line for the user.
    public static func messageLine(_ text: String, isInfo: Bool) -> String {
        text.isEmpty ? "" : (isInfo ? "info " : "error ") + text + "\n"
    }

    /// (isInfo, text) of a message line; nil for anything else.
    public static func parseMessage(_ bytes: [UInt8]) -> (isInfo: Bool, text: String)? {
        var line = bytes
        if line.last == 0x0A { line.removeLast() }
        let text = String(decoding: line, as: UTF8.self)
        guard !text.hasControlCharacters, Array(text.utf8) == line else { return nil }
        if text.hasPrefix("info ") { return (true, String(text.dropFirst(5))) }
        if text.hasPrefix("error ") { return (false, String(text.dropFirst(6))) }
        return nil
    }
}
