import Glibc
import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPMail
@testable import EmailOTPStore
@testable import EmailOTPSystem
@testable import EmailOTPToken

// Injected parts for the flows: a clock the test moves, deterministic randomness, a mailer that
// records (or fails), a scripted conversation and a logger that collects.

/// A clock that only moves when the test moves it.
final class TestClock: Clock {
    var time: Int64
    init(_ time: Int64 = 1_764_230_000) { self.time = time }
    func now() -> Int64 { time }
    func advance(_ seconds: Int64) { time += seconds }
}

/// Deterministic bytes (SplitMix64): repeatable runs, yet every call gives new values, so two
/// codes or transaction ids in one test differ.
final class SeededRandom: RandomSource {
    var state: UInt64
    init(seed: UInt64 = 0x5EED) { state = seed }
    func bytes(_ count: Int) throws -> [UInt8] {
        var out = [UInt8]()
        while out.count < count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            for shift in stride(from: 0, to: 64, by: 8) where out.count < count {
                out.append(UInt8(truncatingIfNeeded: z >> UInt64(shift)))
            }
        }
        return out
    }
}

/// Hands out the given byte blocks, one per call (then repeats the last).
final class ScriptedRandom: RandomSource {
    var blocks: [[UInt8]]
    var calls = 0
    init(_ blocks: [[UInt8]]) { self.blocks = blocks }
    func bytes(_ count: Int) throws -> [UInt8] {
        calls += 1
        let block = blocks.count > 1 ? blocks.removeFirst() : (blocks.first ?? [])
        var out = [UInt8]()
        while out.count < count && !block.isEmpty { out += block }
        return Array(out.prefix(count))
    }
}

/// Records every mail; throws `failure` instead when it is set.
final class RecordingMailer: Mailer {
    var sent: [OutgoingMail] = []
    var failure: MailError?
    /// Runs while the mail is "on the wire", before send returns.
    var whileSending: ((OutgoingMail) -> Void)?
    func send(_ mail: OutgoingMail) throws {
        whileSending?(mail)
        if let failure = failure { throw failure }
        sent.append(mail)
    }
}

/// Answers prompts from a queue of answers; each answer is a closure that sees the prompt.
final class ScriptedConversation: Conversation {
    var answers: [(String) -> String?]
    var prompts: [String] = []
    var echoes: [Bool] = []
    var infos: [String] = []
    var errors: [String] = []

    init(_ answers: [(String) -> String?] = []) { self.answers = answers }

    func prompt(_ text: String, echo: Bool) -> String? {
        prompts.append(text)
        echoes.append(echo)
        guard !answers.isEmpty else { return nil }
        return answers.removeFirst()(text)
    }
    func info(_ text: String) { infos.append(text) }
    func error(_ text: String) { errors.append(text) }
}

final class CollectingLogger: Logger {
    var lines: [(level: LogLevel, message: String)] = []
    func log(_ level: LogLevel, _ message: String) { lines.append((level, message)) }
    var text: String { lines.map(\.message).joined(separator: "\n") }
}

/// A code of the same length that differs from `code` in every digit.
func otherCode(_ code: String) -> String {
    String(code.map { $0 == "9" ? "0" : Character(Unicode.Scalar(($0.asciiValue ?? 0x30) + 1)) })
}

// MARK: - The test process

enum TestProcess {
    /// True in the AddressSanitizer build of the suite (IntegrationTests/asan.sh): its runtime is
    /// linked into the test process.
    static let underAddressSanitizer: Bool = {
        guard let me = dlopen(nil, RTLD_NOW) else { return false }
        return dlsym(me, "__asan_init") != nil
    }()
}

// MARK: - Files

enum TempDir {
    static func make() throws -> String {
        var template = Array("/tmp/emailotp-unit.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            return mkdtemp(base) != nil
        }
        guard made else { throw SystemError("mkdtemp", "/tmp") }
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// `rm -rf`, without following symbolic links.
    static func remove(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            chmod(path, 0o700)
            for name in (try? SafeFile.list(path)) ?? [] { remove("\(path)/\(name)") }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Every path below `root` (relative, directories end in `/`), sorted.
    static func walk(_ root: String, prefix: String = "") -> [String] {
        var out = [String]()
        for name in (try? SafeFile.list(root)) ?? [] {
            let path = "\(root)/\(name)"
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFDIR {
                out.append(prefix + name + "/")
                out += walk(path, prefix: prefix + name + "/")
            } else {
                out.append(prefix + name)
            }
        }
        return out.sorted()
    }
}

func writeFile(_ path: String, _ text: String, mode: mode_t = 0o600) throws {
    unlink(path)
    let fd = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: mode)
    try fd.writeAll(Array(text.utf8))
    guard fchmod(fd.raw, mode) == 0 else { throw SystemError("fchmod", path) }
}

func fileExists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
}

// MARK: - Mail reading

/// The code a mail carries: the line indented by four spaces in the quoted-printable text body.
func code(in mail: OutgoingMail) -> String? {
    for line in mail.text.split(separator: "\n") where line.hasPrefix("    ") {
        let rest = line.dropFirst(4)
        if String(rest).isASCIIDigits { return String(rest) }
    }
    return nil
}

/// The value of header `name` (unfolded) in the header section of `mail`.
func header(_ name: String, in mail: OutgoingMail) -> String? {
    var result: String? = nil
    var current: String? = nil
    for line in headerLines(mail) {
        if line.hasPrefix(" ") || line.hasPrefix("\t") {
            if current != nil { result = (result ?? "") + line }
            continue
        }
        current = nil
        if line.lowercased().hasPrefix(name.lowercased() + ":") {
            current = name
            result = String(line.dropFirst(name.count + 1)).trimmedBlanks
        }
    }
    return result
}

func headerLines(_ mail: OutgoingMail) -> [String] {
    var lines = [String]()
    for line in mail.text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.isEmpty { break }
        lines.append(String(line))
    }
    return lines
}

/// The decoded body of the MIME part of `type` (quoted-printable), or nil.
func part(_ type: String, in mail: OutgoingMail) -> String? {
    let lines = mail.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard let start = lines.firstIndex(where: { $0.hasPrefix("Content-Type: \(type)") }) else { return nil }
    guard let blank = lines[start...].firstIndex(of: "") else { return nil }
    var body = [String]()
    for line in lines[(blank + 1)...] {
        if line.hasPrefix("--=_emailotp_") { break }
        body.append(line)
    }
    return decodeQuotedPrintable(body.joined(separator: "\n"))
}

func decodeQuotedPrintable(_ text: String) -> String {
    var out = [UInt8]()
    let bytes = Array(text.utf8)
    var index = 0
    while index < bytes.count {
        let byte = bytes[index]
        if byte == 0x3D {
            if index + 1 < bytes.count && bytes[index + 1] == 0x0A { index += 2; continue }
            if index + 2 < bytes.count, let high = Hex.value(bytes[index + 1]), let low = Hex.value(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
                continue
            }
        }
        out.append(byte)
        index += 1
    }
    return String(decoding: out, as: UTF8.self)
}

func decodeBase64(_ text: String) -> [UInt8]? {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var values = [UInt8]()
    for byte in text.utf8 where byte != 0x3D {
        guard let index = alphabet.firstIndex(of: byte) else { return nil }
        values.append(UInt8(index))
    }
    var out = [UInt8]()
    var index = 0
    while index + 1 < values.count {
        out.append(values[index] << 2 | values[index + 1] >> 4)
        if index + 2 < values.count { out.append(values[index + 1] << 4 | values[index + 2] >> 2) }
        if index + 3 < values.count { out.append(values[index + 2] << 6 | values[index + 3]) }
        index += 4
    }
    return out
}

/// Decodes a header made of RFC 2047 `=?UTF-8?B?...?=` words (folding whitespace between words).
func decodeEncodedWords(_ value: String) -> String? {
    var out = [UInt8]()
    for word in value.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
        guard word.hasPrefix("=?UTF-8?B?"), word.hasSuffix("?=") else { return nil }
        guard let bytes = decodeBase64(String(word.dropFirst(10).dropLast(2))) else { return nil }
        out += bytes
    }
    return String(decoding: out, as: UTF8.self)
}

// MARK: - Flow fixture

/// A store in a temporary directory, a movable clock, seeded randomness, a recording mailer and
/// a collecting logger; `authenticator()` wires them with the current `config`.
class TempDirTestCase: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        root = try TempDir.make()
    }

    override func tearDownWithError() throws {
        TempDir.remove(root)
        try super.tearDownWithError()
    }
}

class FlowTestCase: TempDirTestCase {
    var storeDirectory: String { "\(root)/store" }
    var clock = TestClock()
    var random = SeededRandom()
    var mailer = RecordingMailer()
    var logger = CollectingLogger()
    var store: FileStore!
    var config = Config()

    static let pin = "pin-word"
    /// Hashing is slow by design: one hash of each test PIN for the whole run.
    static var hashCache = [String: String]()
    static func hash(_ pin: String) throws -> String {
        if let hash = hashCache[pin] { return hash }
        let hash = try PINHash.make(pin, random: OpenSSLRandom())
        hashCache[pin] = hash
        return hash
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        clock = TestClock()
        random = SeededRandom()
        mailer = RecordingMailer()
        logger = CollectingLogger()
        store = FileStore(directory: storeDirectory, owner: geteuid(), random: random, clock: clock)
        config = Config()
        config.mailSender = "otp@example.org"
        config.store = storeDirectory
        // The flow tests count code mails; the alert tests turn alerts on themselves.
        config.notify = []
    }

    func authenticator(pinMode: PINMode = .token) -> Authenticator {
        Authenticator(config: config, pinMode: pinMode, store: store, clock: clock, random: random,
                      mailer: mailer, logger: logger,
                      context: RequestContext(service: "sshd", rhost: "192.0.2.7", host: "host.example.org"))
    }

    @discardableResult
    func enroll(_ user: String = "alice", email: String = "alice@example.com", pin: String? = FlowTestCase.pin,
                enabled: Bool = true) throws -> TokenRecord {
        var record = TokenRecord(user: user, email: email, pinHash: try pin.map { try Self.hash($0) })
        record.enabled = enabled
        try store.update(user: user) { $0 = record }
        return record
    }

    func record(_ user: String = "alice") throws -> TokenRecord? {
        try store.read(user: user)
    }

    /// The code of the newest mail.
    var lastCode: String? { mailer.sent.last.flatMap { code(in: $0) } }

    // Conversation answers.
    func answer(_ text: String?) -> (String) -> String? { { _ in text } }
    /// Reads the code out of the newest captured mail.
    func mailedCode() -> (String) -> String? { { [unowned self] _ in self.lastCode } }
    /// Moves the clock, then answers with the mailed code.
    func mailedCode(after seconds: Int64) -> (String) -> String? {
        { [unowned self] _ in
            self.clock.advance(seconds)
            return self.lastCode
        }
    }
    /// A well-formed code that is not the mailed one.
    func wrongCode() -> (String) -> String? {
        { [unowned self] _ in
            otherCode(self.lastCode ?? "000000")
        }
    }
}
