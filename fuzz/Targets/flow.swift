// The flows end to end: Authenticator over an in-memory store that fails when told to, a
// mailer that fails when told to, a clock that jumps, and conversations that answer anything
// (the mailed code, a wrong code, the PIN, nothing, a hang-up), in interactive and challenge
// mode and through `emailotp check --transaction-id`, several logins per input. After each
// login it checks:
//   - no grant without the right code: a success needs a code mailed to the user for a
//     challenge the login's answer was compared with (the one its prompt belongs to, in
//     interactive mode; the open ones, in challenge mode; the one named by the transaction
//     id), still valid when it was answered, and (pin=token) the right PIN in the same login;
//     that challenge is gone from the store afterwards (a code grants once);
//   - counts never lost: a wrong code answered by transaction id to a challenge that was open
//     and armed (its mail went out), or a wrong PIN, with no store fault in that login,
//     leaves a higher fail count or a locked token;
//   - a store fault never turns into a grant it would not have been without the fault;
//   - no trap (libFuzzer reports any crash).
import CShim
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPMail
@testable import EmailOTPStore
@testable import EmailOTPSystem
@testable import EmailOTPToken

/// The fuzzer's bytes, read as choices; past the end every choice is 0.
final class Choices {
    let bytes: [UInt8]
    var index = 0
    init(_ data: UnsafePointer<UInt8>, _ size: Int) { bytes = Array(UnsafeBufferPointer(start: data, count: size)) }
    var exhausted: Bool { index >= bytes.count }
    func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }
    func below(_ n: Int) -> Int { Int(byte()) % max(n, 1) }
    func chance(_ inEight: Int) -> Bool { Int(byte() & 7) < inEight }
}

final class FuzzClock: Clock {
    var time: Int64 = 1_764_230_000
    func now() -> Int64 { time }
}

/// SplitMix64: codes, ids and salts that differ from input to input but repeat for one input.
final class FuzzRandom: RandomSource {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    func bytes(_ count: Int) throws -> [UInt8] {
        var out = [UInt8]()
        while out.count < count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            withUnsafeBytes(of: z) { out += $0.prefix(count - out.count) }
        }
        return out
    }
}

/// An in-memory store: each transaction may fail before its body runs (a read or lock
/// failure) or after it (the write), as the input says; a failed transaction changes nothing.
final class FaultyStore: TokenStore {
    var records: [String: TokenRecord] = [:]
    let clock: FuzzClock
    let choices: Choices
    var faultRate = 0   // in eight
    var faults = 0
    init(clock: FuzzClock, choices: Choices) { self.clock = clock; self.choices = choices }

    struct Fault: Error {}

    func read(user: String) throws -> TokenRecord? {
        if faultRate > 0 && choices.chance(faultRate) { faults += 1; throw Fault() }
        return records[user]
    }

    func update<T>(user: String, _ body: (inout TokenRecord?, Int64) throws -> T) throws -> T {
        if faultRate > 0 && choices.chance(faultRate) { faults += 1; throw Fault() }
        var record = records[user]
        let result = try body(&record, clock.now())
        if faultRate > 0 && choices.chance(faultRate) { faults += 1; throw Fault() }
        records[user] = record
        return result
    }

    func users() throws -> [String] { records.keys.sorted() }
    func codeKey() throws -> [UInt8] { Array(repeating: 7, count: 32) }
}

/// A mailed code, as the mailer saw it.
struct Mailed {
    var user: String
    var code: String
    var transactionID: String
    var expires: Int64
}

final class FuzzMailer: Mailer {
    let choices: Choices
    let clock: FuzzClock
    let validity: Int64
    var failRate = 0
    var mailed: [Mailed] = []
    init(choices: Choices, clock: FuzzClock, validity: Int64) {
        self.choices = choices
        self.clock = clock
        self.validity = validity
    }

    struct Failure: Error {}

    func send(_ mail: OutgoingMail) throws {
        if failRate > 0 && choices.chance(failRate) { throw Failure() }
        var code: String? = nil
        var transactionID = ""
        for line in mail.text.split(separator: "\n") {
            if line.hasPrefix("X-EmailOTP-Transaction-Id: ") { transactionID = String(line.dropFirst(27)) }
            if line.hasPrefix("    "), String(line.dropFirst(4)).isASCIIDigits, code == nil { code = String(line.dropFirst(4)) }
        }
        guard let found = code else { return }  // an alert
        let user = mail.to.split(separator: "@").first.map(String.init) ?? ""
        mailed.append(Mailed(user: user, code: found, transactionID: transactionID, expires: clock.now() + validity))
    }
}

struct Quiet: Logger {
    func log(_ level: LogLevel, _ message: String) {}
}

struct SameNames: AccountDirectory {
    func canonicalName(_ name: String) -> String? { name }
}

/// What one login answered, for the checks afterwards.
final class Answers {
    var codes: [String] = []
    var pins: [String] = []
}

/// Answers each prompt as the input says, recording what it gave.
final class FuzzConversation: Conversation {
    let choices: Choices
    let mailer: FuzzMailer
    let answers: Answers
    let pin: String
    let user: String
    init(choices: Choices, mailer: FuzzMailer, answers: Answers, pin: String, user: String) {
        self.choices = choices
        self.mailer = mailer
        self.answers = answers
        self.pin = pin
        self.user = user
    }

    func prompt(_ text: String, echo: Bool) -> String? {
        let answer = pickAnswer(choices, mailer: mailer, pin: pin, user: user)
        if let a = answer {
            if a == pin || a == wrongPIN { answers.pins.append(a) } else { answers.codes.append(a) }
        }
        return answer
    }
    func info(_ text: String) {}
    func error(_ text: String) {}
}

let thePIN = "fuzz-PIN-1"
let wrongPIN = "fuzz-PIN-2"
/// One yescrypt hash for the whole run, at the lowest cost libcrypt makes: a verification at
/// the module's cost would make every pin=token input slow. (Unknown users still cost the
/// module's dummy hash.)
let thePINHash: String = {
    var setting = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
    precondition(crypt_gensalt_rn("$y$", 1, nil, 0, &setting, Int32(setting.count)) != nil, "crypt_gensalt_rn")
    return try! PINHash.crypt(thePIN, setting: String(cString: setting))
}()

/// A code answer: the newest mailed code, an older one, a wrong one of the right shape, or
/// something else; or the PIN, a wrong PIN, nothing (nil: the conversation failed).
func pickAnswer(_ choices: Choices, mailer: FuzzMailer, pin: String, user: String) -> String? {
    let mine = mailer.mailed.filter { $0.user == user }
    switch choices.below(9) {
    case 0, 1, 2: return mine.last?.code ?? "000000"
    case 3: return mine.isEmpty ? "123456" : mine[choices.below(mine.count)].code
    case 4: return String(format6(choices.below(256) * 3907 + choices.below(256)))
    case 5: return pin
    case 6: return wrongPIN
    case 7: return ""
    default: return nil
    }
}

func format6(_ n: Int) -> String {
    let digits = String(n % 1_000_000)
    return String(repeating: "0", count: 6 - digits.utf8.count) + digits
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let choices = Choices(data, size)
    let clock = FuzzClock()
    var config = Config()
    config.mailSender = "otp@example.org"
    config.otpLength = 6
    config.otpTries = 1 + choices.below(3)
    config.maxFail = 1 + choices.below(5)
    config.otpValidity = [30, 60, 300][choices.below(3)]
    config.unlockTime = [0, 60, 600][choices.below(3)]
    config.resendInterval = [0, 0, 30][choices.below(3)]
    config.concurrentChallenges = choices.chance(4)
    config.maxOpenChallenges = 1 + choices.below(4)
    config.maxMailsPerHour = [2, 5, 100][choices.below(3)]
    config.notify = []
    config.failDelay = 0
    // pin=token costs a yescrypt hash per attempt: one input in four.
    let withPIN = choices.below(4) == 0
    let pinMode: PINMode = withPIN ? .token : .none

    let store = FaultyStore(clock: clock, choices: choices)
    let mailer = FuzzMailer(choices: choices, clock: clock, validity: config.otpValidity)
    store.records["alice"] = TokenRecord(user: "alice", email: "alice@example.org", pinHash: withPIN ? thePINHash : nil)
    if choices.chance(1) { store.records["alice"]?.enabled = false }
    var authenticator = Authenticator(config: config, pinMode: pinMode, store: store, clock: clock,
                                      random: FuzzRandom(seed: UInt64(choices.byte()) << 8 | UInt64(choices.byte())),
                                      mailer: mailer, logger: Quiet(),
                                      context: RequestContext(service: "sshd", rhost: "192.0.2.7", host: "host.example.org"))
    authenticator.accounts = SameNames()

    var logins = 0
    while !choices.exhausted && logins < 12 {
        logins += 1
        clock.time += Int64([0, 1, 10, 29, 61, 301, 700][choices.below(7)])
        store.faultRate = choices.chance(2) ? 1 + choices.below(3) : 0
        mailer.failRate = choices.chance(1) ? 4 : 0
        let user = choices.chance(1) ? "bob" : "alice"
        let before = store.records[user]
        var refreshed = before
        refreshed?.refresh(now: clock.now(), config: config)
        let faultsBefore = store.faults
        let mailedBefore = mailer.mailed.count
        let answers = Answers()
        let conversation = FuzzConversation(choices: choices, mailer: mailer, answers: answers,
                                            pin: withPIN ? thePIN : "", user: user)
        let nullok = choices.chance(4)
        var result: AuthResult
        var answeredCodes: [String] = []
        var typedPINs: [String] = []
        var wrongPINGiven = false
        let now = clock.now()
        let openIDs = Set((refreshed?.challenges ?? []).filter { !$0.isExpired(at: now) }.map(\.transactionID))
        // Open and armed: a challenge with no tries left is one whose mail never went out.
        let armed = (refreshed?.challenges ?? []).filter { !$0.isExpired(at: now) && $0.triesLeft > 0 }
        let armedIDs = Set(armed.map(\.transactionID))
        // The challenges this login's answers are compared with, set per kind of login below.
        var compared = Set<String>()
        // A transaction id answered with a code that is not its code.
        var wrongCodeTo: String? = nil
        let kind = choices.below(4)
        switch kind {
        case 0:
            result = InteractiveFlow(authenticator).run(user: user, conversation: conversation, nullok: nullok,
                                               stackPIN: nil, firstPass: .no).status
            answeredCodes = answers.codes
            typedPINs = answers.pins
            // The code prompt belongs to the challenge this login mailed, or to the one it re-used.
            if let mine = mailer.mailed[mailedBefore...].last(where: { $0.user == user }) {
                compared = [mine.transactionID]
            } else if let reused = armed.max(by: { $0.created < $1.created }) {
                compared = [reused.transactionID]
            }
        case 1:
            result = ChallengeFlow(authenticator).run(user: user, conversation: conversation, nullok: nullok,
                                             stackPIN: nil, firstPass: .no).status
            compared = config.concurrentChallenges ? armedIDs : Set(armed.max(by: { $0.created < $1.created }).map { [$0.transactionID] } ?? [])
            // the one password: the PIN (or nothing), optionally followed by a code
            for answer in answers.codes + answers.pins {
                if withPIN, answer.hasPrefix(thePIN) { typedPINs.append(thePIN); answeredCodes.append(String(answer.dropFirst(thePIN.utf8.count))) }
                else { answeredCodes.append(answer) }
            }
        case 2:
            let pinPart = withPIN ? (choices.chance(6) ? thePIN : wrongPIN) : ""
            let code = pickAnswer(choices, mailer: mailer, pin: "", user: user) ?? ""
            let password = choices.chance(3) ? pinPart : pinPart + code
            result = ChallengeFlow(authenticator).step(user: user, password: password, nullok: nullok).status
            compared = config.concurrentChallenges ? armedIDs : Set(armed.max(by: { $0.created < $1.created }).map { [$0.transactionID] } ?? [])
            if withPIN, password.hasPrefix(thePIN) { typedPINs.append(thePIN) }
            wrongPINGiven = withPIN && pinPart == wrongPIN
            answeredCodes.append(withPIN ? String(password.dropFirst(pinPart.utf8.count)) : password)
        default:
            let mine = mailer.mailed.filter { $0.user == user }
            let id = mine.isEmpty ? "12345678901234567890" : mine[choices.below(mine.count)].transactionID
            let code = pickAnswer(choices, mailer: mailer, pin: "", user: user) ?? ""
            result = ChallengeFlow(authenticator).answer(user: user, transactionID: id, code: code).status
            compared = [id]
            if code != mine.first(where: { $0.transactionID == id })?.code { wrongCodeTo = id }
            // answering a transaction needs no PIN (emailotp check --transaction-id)
            typedPINs.append(thePIN)
            answeredCodes.append(code)
        }
        let after = store.records[user]
        let faulted = store.faults > faultsBefore
        // The codes that may grant: of challenges open before this login, or mailed during it.
        let grantable = mailer.mailed.enumerated().filter { index, mail in
            mail.user == user && mail.expires > now && (openIDs.contains(mail.transactionID) || index >= mailedBefore)
        }.map(\.element)

        if result == .success {
            let used = grantable.filter { answeredCodes.contains($0.code) && compared.contains($0.transactionID) }
            check(!used.isEmpty, "granted \(user) without a valid mailed code of a challenge it answered (answers \(answeredCodes))")
            check(!withPIN || typedPINs.contains(thePIN), "granted \(user) without the right PIN")
            check(before?.enabled ?? false, "granted a user without an enabled token")
            check(!(refreshed?.isLocked ?? true), "granted a locked token")
            // the challenge answered is gone: a code grants once
            check(used.contains { granted in !(after?.challenges.contains { $0.transactionID == granted.transactionID } ?? false) },
                  "the granted challenge is still open (compared with \(compared.sorted()))")
        }
        if user == "bob" {
            check(result != .success, "granted a user without a token")
        }
        if result != .success, let r = refreshed, let a = after {
            // nothing but a grant clears failures (a failed transaction writes nothing)
            check(a.failCount >= r.failCount, "fail count went down without a grant (\(r.failCount) -> \(a.failCount))")
            // counts never lost: with no store fault, a usable token counts a wrong code answered
            // to a challenge that was open, and a wrong PIN
            if !faulted, r.enabled, !r.isLocked {
                // (In the flows with prompts, which answers are taken for a code is theirs to say;
                // checked by the unit tests. An answer by transaction id is always a code.)
                if let id = wrongCodeTo, armedIDs.contains(id) {
                    check(a.failCount > r.failCount || a.isLocked, "a wrong code to the open challenge \(id) was not counted (\(r.failCount) -> \(a.failCount))")
                }
                if wrongPINGiven {
                    check(a.failCount > r.failCount || a.isLocked, "a wrong PIN was not counted (\(r.failCount) -> \(a.failCount))")
                }
            }
        }
    }
    return 0
}
