import EmailOTPCrypto
import EmailOTPFlows
import EmailOTPSystem
import Glibc

/// What the module and the helper (`emailotp-helper`) say to each other over one stream socket
/// (the helper's standard input and output) when the login runs outside the application's
/// process (pam_emailotp(8), PROCESS MODEL; docs/DESIGN.md, The helper protocol).
///
///     argv    emailotp-helper login [the module's arguments]
///             emailotp-helper token                (`emailotp` run by a user on their own token)
///     frames  one type byte, a 4-byte big-endian length, that many payload bytes
///
///     module → helper   Q request (once, first)   A answer   N no answer (the conversation failed)
///     emailotp → helper T own-token request (once, first; `token` only): what to do, never whose
///     helper → module   P prompt, no echo   E prompt, echo   I info   M error message
///                       R result (last): status, fail delay in seconds, flags (1: a challenge was opened)
///
/// Every payload is bounded (`maxPayload`, fields `maxFieldBytes`), text is UTF-8 without
/// control characters (a line feed or tab aside), and every read has a deadline on both sides.
package enum HelperProtocol {
    package static let verb = "login"
    /// The verb of `emailotp` run by a user on their own token: the user is the helper's real uid.
    package static let tokenVerb = "token"
    package static let maxPayload = 64 * 1024
    static let maxFieldBytes = 4096
    static let maxNameBytes = 256
    /// Seconds the helper waits for the request after it starts.
    package static let requestTimeout: Int64 = 10
    /// Seconds the module waits for each frame of the helper (the helper's own waits are shorter).
    package static let relayTimeout: Int64 = 20 * 60

    /// The login the application asks for.
    package struct Request: Equatable {
        package var user: String
        package var service: String
        package var rhost: String
        /// `PAM_AUTHTOK` of the application's stack, when an earlier module set one.
        package var authtok: String?
        /// The application's real uid and program (`/proc/self/exe`), for the log; trusted only
        /// when the helper was started by root.
        package var callerUID: uid_t
        package var program: String
        /// The application asked for silence or has no terminal (`RequestContext.quiet`). A
        /// caller may claim it freely: it only moves a message into the code prompt.
        package var quiet: Bool
        /// `PAM_TTY` and `PAM_RUSER`: the source of a local login's failures (pam_emailotp(8)).
        package var tty = ""
        package var ruser = ""

        package init(user: String, service: String, rhost: String, authtok: String?, callerUID: uid_t, program: String,
                    quiet: Bool = false, tty: String = "", ruser: String = "") {
            self.tty = tty
            self.ruser = ruser
            self.user = user
            self.service = service
            self.rhost = rhost
            self.authtok = authtok
            self.callerUID = callerUID
            self.program = program
            self.quiet = quiet
        }
    }

    /// The end of a login, as the module applies it.
    package struct Outcome: Equatable {
        package var result: AuthResult
        /// Seconds the module asks libpam to wait (`pam_fail_delay`); 0 when the helper waited itself.
        package var failDelay: Int64
        package var openedChallenge: Bool

        package init(result: AuthResult, failDelay: Int64, openedChallenge: Bool) {
            self.result = result
            self.failDelay = failDelay
            self.openedChallenge = openedChallenge
        }
    }

    /// What a user asks about their own token (`emailotp status|set-pin|recovery-codes|forget`).
    /// It names no user: the helper acts for the user of its real uid alone.
    package enum TokenAction: Equatable {
        case status
        case setPIN
        case recoveryCodes(count: Int)
        case forget

        /// The verb of `emailotp`, for the log, the mail and the code mail's service.
        package var verb: String {
            switch self {
            case .status: return "status"
            case .setPIN: return "set-pin"
            case .recoveryCodes: return "recovery-codes"
            case .forget: return "forget"
            }
        }

        /// True for the verbs that raise trust: they first ask the PIN and a mailed code.
        package var needsProof: Bool {
            switch self {
            case .setPIN, .recoveryCodes: return true
            case .status, .forget: return false
            }
        }
    }

    package enum Frame: Equatable {
        case request(Request)
        case tokenRequest(TokenAction)
        case prompt(String, echo: Bool)
        case info(String)
        case error(String)
        case answer(String?)
        case result(Outcome)
    }

    /// Why the helper refuses: a frame or request that breaks the protocol, or a caller that
    /// `CallerPolicy` does not admit (`CallerPolicy.Refusal`). Its description is the reason.
    package struct Refused: Error, CustomStringConvertible, Equatable {
        package let reason: String
        package init(_ reason: String) { self.reason = reason }
        package var description: String { reason }
    }

    // MARK: encoding

    package static func encode(_ frame: Frame) -> [UInt8] {
        let (type, payload): (UInt8, [UInt8])
        switch frame {
        case .request(let r):
            var bytes = [UInt8]()
            let fields = ["1", r.user, r.service, r.rhost, r.authtok == nil ? "0" : "1", r.authtok ?? "",
                          String(r.callerUID), r.program, r.quiet ? "1" : "0", r.tty, r.ruser]
            for field in fields {
                bytes += Array(field.utf8)
                bytes.append(0)
            }
            (type, payload) = (0x51, bytes)
        case .tokenRequest(let action):
            var fields = ["1", action.verb]
            if case .recoveryCodes(let count) = action { fields.append(String(count)) }
            (type, payload) = (0x54, fields.flatMap { Array($0.utf8) + [0] })
        case .prompt(let text, let echo): (type, payload) = (echo ? 0x45 : 0x50, Array(text.utf8))
        case .info(let text): (type, payload) = (0x49, Array(text.utf8))
        case .error(let text): (type, payload) = (0x4D, Array(text.utf8))
        case .answer(let text?): (type, payload) = (0x41, Array(text.utf8))
        case .answer(nil): (type, payload) = (0x4E, [])
        case .result(let o):
            (type, payload) = (0x52, [UInt8(status(of: o.result)), UInt8(clamping: max(0, o.failDelay)), o.openedChallenge ? 1 : 0])
        }
        let n = UInt32(payload.count)
        return [type, UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + payload
    }

    package static func decode(type: UInt8, payload: [UInt8]) throws -> Frame {
        switch type {
        case 0x51: return .request(try decodeRequest(payload))
        case 0x54: return .tokenRequest(try decodeTokenRequest(payload))
        case 0x50: return .prompt(try text(payload), echo: false)
        case 0x45: return .prompt(try text(payload), echo: true)
        case 0x49: return .info(try text(payload))
        case 0x4D: return .error(try text(payload))
        case 0x41:
            guard payload.count <= maxFieldBytes, let answer = String(validating: payload, as: UTF8.self) else {
                throw Refused("answer too long or not UTF-8")
            }
            return .answer(answer)
        case 0x4E:
            guard payload.isEmpty else { throw Refused("malformed no-answer frame") }
            return .answer(nil)
        case 0x52:
            guard payload.count == 3, payload[2] <= 1 else { throw Refused("malformed result frame") }
            return .result(Outcome(result: result(ofStatus: Int32(payload[0])), failDelay: Int64(payload[1]),
                                   openedChallenge: payload[2] == 1))
        default:
            throw Refused("unknown frame type \(type)")
        }
    }

    /// Text for the user: UTF-8, at most `maxFieldBytes`, no control character but LF and TAB.
    static func text(_ payload: [UInt8]) throws -> String {
        guard payload.count <= maxFieldBytes, let value = String(validating: payload, as: UTF8.self),
              !value.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || $0.value == 0x7F || (0x80...0x9F).contains($0.value) })
        else { throw Refused("message too long, not UTF-8 or with control characters") }
        return value
    }

    /// A request strictly: version 1, eight NUL-terminated UTF-8 fields of at most 4 KiB; the
    /// service, remote host and program (they go into mails and log lines) without control
    /// characters, the names at most 256 bytes.
    package static func decodeRequest(_ bytes: [UInt8]) throws -> Request {
        guard bytes.last == 0 else { throw Refused("request not NUL-terminated") }
        let fields = bytes.dropLast().split(separator: 0, omittingEmptySubsequences: false)
        // The ninth field (quiet) and the tenth and eleventh (tty, ruser) are optional: modules of
        // the releases before send eight or nine.
        guard fields.count == 8 || fields.count == 9 || fields.count == 11 else {
            throw Refused("request has \(fields.count) fields, not 11")
        }
        guard fields.allSatisfy({ $0.count <= maxFieldBytes }) else { throw Refused("request field too long") }
        var text = [String]()
        for field in fields {
            guard let value = String(validating: field, as: UTF8.self) else { throw Refused("request is not UTF-8") }
            text.append(value)
        }
        guard text[0] == "1" else { throw Refused("request version \(LogText.printable(text[0])) is not 1") }
        guard !text[2].hasControlCharacters, !text[3].hasControlCharacters, !text[7].hasControlCharacters,
              text[2].utf8.count <= maxNameBytes, text[3].utf8.count <= maxNameBytes else {
            throw Refused("service, remote host or program holds control characters or is too long")
        }
        guard text[4] == "0" || text[4] == "1", text[4] == "1" || text[5].isEmpty else { throw Refused("malformed authtok field") }
        guard let uid = UInt32(text[6]), text[6] == String(uid) else { throw Refused("malformed caller uid") }
        guard text.count == 8 || text[8] == "0" || text[8] == "1" else { throw Refused("malformed quiet field") }
        let tty = text.count == 11 ? text[9] : ""
        let ruser = text.count == 11 ? text[10] : ""
        guard !tty.hasControlCharacters, !ruser.hasControlCharacters, tty.utf8.count <= maxNameBytes, ruser.utf8.count <= maxNameBytes else {
            throw Refused("tty or remote user holds control characters or is too long")
        }
        return Request(user: text[1], service: text[2], rhost: text[3], authtok: text[4] == "1" ? text[5] : nil,
                       callerUID: uid, program: text[7], quiet: text.count >= 9 && text[8] == "1", tty: tty, ruser: ruser)
    }

    /// An own-token request strictly: version 1, the verb, and for recovery-codes how many
    /// (1 to `RecoveryCode.maxCount`), each NUL-terminated.
    package static func decodeTokenRequest(_ bytes: [UInt8]) throws -> TokenAction {
        guard bytes.count <= 64, bytes.last == 0 else { throw Refused("malformed own-token request") }
        let fields = bytes.dropLast().split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard fields.first == "1" else { throw Refused("own-token request version is not 1") }
        switch Array(fields.dropFirst()) {
        case ["status"]: return .status
        case ["set-pin"]: return .setPIN
        case ["forget"]: return .forget
        case let f where f.count == 2 && f[0] == "recovery-codes":
            guard let count = Int(f[1]), String(count) == f[1], (1...RecoveryCode.maxCount).contains(count) else {
                throw Refused("malformed recovery code count")
            }
            return .recoveryCodes(count: count)
        default:
            throw Refused("unknown own-token request")
        }
    }

    // MARK: the caller's side

    /// The caller's half of a conversation with the helper (the module, `emailotp`): each
    /// prompt goes to `conversation` and its answer back, messages are shown, until the
    /// result. Throws `Refused` when the helper stops talking or says something out of turn.
    package static func relay(_ fd: Int32, to conversation: Conversation) throws -> Outcome {
        while true {
            switch try readFrame(fd, until: Deadline(afterSeconds: relayTimeout)) {
            case .prompt(let text, let echo):
                var answer = conversation.prompt(text, echo: echo)
                let sent = writeFrame(fd, .answer(answer), until: Deadline(afterSeconds: requestTimeout))
                answer = nil
                guard sent else { throw Refused("it stopped reading") }
            case .info(let text):
                conversation.info(text)
            case .error(let text):
                conversation.error(text)
            case .result(let outcome):
                return outcome
            case .request, .tokenRequest, .answer:
                throw Refused("unexpected frame")
            }
        }
    }

    // MARK: the wire

    /// Reads one frame before `deadline`; throws `Refused` on end of file, a timeout or a malformed frame.
    package static func readFrame(_ fd: Int32, until deadline: Deadline) throws -> Frame {
        guard let header = ChildIO.readExactly(fd, 5, until: deadline) else {
            throw Refused(deadline.hasPassed ? "no frame before the deadline" : "the other side closed the conversation")
        }
        let length = Int(header[1]) << 24 | Int(header[2]) << 16 | Int(header[3]) << 8 | Int(header[4])
        guard length <= maxPayload else { throw Refused("frame of \(length) bytes") }
        guard let payload = length == 0 ? [] : ChildIO.readExactly(fd, length, until: deadline) else {
            throw Refused("truncated frame")
        }
        return try decode(type: header[0], payload: payload)
    }

    @discardableResult
    package static func writeFrame(_ fd: Int32, _ frame: Frame, until deadline: Deadline) -> Bool {
        ChildIO.writeAll(fd, encode(frame), until: deadline)
    }

    // MARK: results

    /// The status byte (and the helper's exit status) that carries a result.
    package static func status(of result: AuthResult) -> Int32 {
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

    /// The result a status carries; anything unknown is a service error (fail closed).
    package static func result(ofStatus status: Int32) -> AuthResult {
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
}
