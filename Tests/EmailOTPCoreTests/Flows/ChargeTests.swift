import Glibc
import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPHelper
@testable import EmailOTPStore
@testable import EmailOTPSystem
@testable import EmailOTPToken

/// A file store whose writes can be made to fail (as EFBIG under a low `RLIMIT_FSIZE`, ENOSPC
/// on a full disk, EDQUOT, EIO): a write that would change a record throws instead, and
/// nothing is written. It also notes what the disk held when each attempt started to compare.
final class FaultyStore: TokenStore {
    let inner: FileStore
    /// The errno every record-changing write fails with; nil: writes succeed.
    var failWrites: Int32?
    /// Like `RLIMIT_FSIZE` with SIGXFSZ ignored: a record written larger than this fails (EFBIG).
    var sizeLimit: Int?
    /// The record on disk each time an attempt's settle (its compare) began.
    var onDiskAtCompare: [TokenRecord?] = []

    init(_ inner: FileStore) { self.inner = inner }

    func fault(_ before: TokenRecord?, _ after: TokenRecord?) throws {
        guard after != before else { return }
        if let code = failWrites { throw StoreError.io(SystemError("write", "users/record", code: code).description) }
        if let limit = sizeLimit, let record = after, RecordFormat.render(record).utf8.count > limit {
            throw StoreError.io(SystemError("write", "users/record", code: EFBIG).description)
        }
    }

    func read(user: String) throws -> TokenRecord? { try inner.read(user: user) }
    func users() throws -> [String] { try inner.users() }
    func codeKey() throws -> [UInt8] { try inner.codeKey() }

    func update<T>(user: String, _ body: (inout TokenRecord?, Int64) throws -> T) throws -> T {
        try inner.update(user: user) { record, now in
            let before = record
            let result = try body(&record, now)
            try fault(before, record)
            return result
        }
    }

    func attempt<T>(user: String, charge: (inout TokenRecord?, Int64) throws -> Void,
                    settle: (inout TokenRecord?, TokenRecord?, Int64) throws -> T) throws -> T {
        try inner.attempt(user: user, charge: { record, now in
            let before = record
            try charge(&record, now)
            try fault(before, record)
        }, settle: { record, charged, now in
            onDiskAtCompare.append(try inner.read(user: user))
            let before = record
            let result = try settle(&record, charged, now)
            try fault(before, record)
            return result
        })
    }
}

/// Charge before check: every PIN, code and recovery code is compared only after its failure
/// is on disk; when that cannot be written, nothing is compared and the answer is the same
/// whatever was typed.
final class ChargeTests: FlowTestCase {
    var faulty: FaultyStore!
    static let faults: [(String, Int32)] = [("EFBIG", EFBIG), ("ENOSPC", ENOSPC), ("EDQUOT", EDQUOT), ("EIO", EIO)]

    override func setUpWithError() throws {
        try super.setUpWithError()
        faulty = FaultyStore(store)
        config.resendInterval = 0
    }

    func auth(pinMode: PINMode = .token) -> Authenticator {
        Authenticator(config: config, pinMode: pinMode, store: faulty, clock: clock, random: random,
                      mailer: mailer, logger: logger,
                      context: RequestContext(service: "sshd", rhost: "192.0.2.7", host: "host.example.org"))
    }

    func interactive(_ answers: [(String) -> String?], pinMode: PINMode = .token) -> (AuthResult, ScriptedConversation) {
        let conversation = ScriptedConversation(answers)
        let result = InteractiveFlow(auth(pinMode: pinMode)).run(user: "alice", conversation: conversation, nullok: false,
                                                        stackPIN: nil, firstPass: .no).status
        return (result, conversation)
    }

    /// What the person logging in sees of one login, and the work it cost.
    struct Seen: Equatable {
        var result: AuthResult
        var prompts: [String]
        var infos: [String]
        var errors: [String]
        var hashes: Int
    }

    func seen(_ run: () -> (AuthResult, ScriptedConversation)) -> Seen {
        let before = PINHash.verifications
        let (result, conversation) = run()
        return Seen(result: result, prompts: conversation.prompts, infos: conversation.infos,
                    errors: conversation.errors, hashes: PINHash.verifications - before)
    }

    /// The newest challenge's code, opened (and mailed) with the fault off.
    func openChallenge() throws -> String {
        faulty.failWrites = nil
        guard case .sent = try auth().trigger(user: "alice", pin: Self.pin) else { throw XCTSkip("no challenge opened") }
        return try XCTUnwrap(lastCode)
    }

    // MARK: the PIN

    func testAPINWhoseChargeCannotBeWrittenIsNotEvaluated() throws {
        for (name, code) in Self.faults {
            try enroll()
            let before = try record()
            let mails = mailer.sent.count
            faulty.failWrites = code
            let right = seen { interactive([answer(Self.pin), mailedCode()]) }
            let wrong = seen { interactive([answer("not-the-pin"), mailedCode()]) }
            XCTAssertEqual(right.result, .unavailable, name)
            XCTAssertEqual(right, wrong, "\(name): the same words and the same work whatever was typed")
            XCTAssertEqual(right.hashes, 0, "\(name): nothing was compared")
            XCTAssertEqual(mailer.sent.count, mails, name)
            XCTAssertEqual(try record(), before, name)
            XCTAssertTrue(logger.text.contains("store error"), name)
            // Afterwards the right PIN is no more granted than before: it opens a challenge.
            faulty.failWrites = nil
            XCTAssertEqual(interactive([answer(Self.pin), mailedCode()]).0, .success, name)
            XCTAssertEqual(interactive([answer("not-the-pin")]).0, .authError, name)
            XCTAssertEqual(try record()?.failCount, 1, "\(name): a wrong PIN is counted once the disk takes it")
            try store.update(user: "alice") { $0 = nil }
        }
    }

    /// Within resend_interval the open challenge is re-used: a right PIN once wrote nothing
    /// there, so under a full disk a right PIN went on to the code prompt and a wrong one failed
    /// to write: a free PIN oracle. The charge is written first, whatever happens after.
    func testTheReUseOfAnOpenChallengeIsChargedToo() throws {
        config.resendInterval = 300
        try enroll()
        _ = try openChallenge()
        for (name, code) in Self.faults {
            faulty.failWrites = code
            let right = seen { interactive([answer(Self.pin), mailedCode()]) }
            let wrong = seen { interactive([answer("not-the-pin"), mailedCode()]) }
            XCTAssertEqual(right.result, .unavailable, name)
            XCTAssertEqual(right, wrong, name)
            XCTAssertEqual(right.prompts, ["PIN: "], "\(name): no code prompt after an unwritten charge")
        }
    }

    func testAChallengeModeFirstStepWhoseChargeCannotBeWrittenIsNotEvaluated() throws {
        try enroll()
        for (name, code) in Self.faults {
            faulty.failWrites = code
            let before = PINHash.verifications
            let right = ChallengeFlow(auth()).step(user: "alice", password: Self.pin, nullok: false)
            let wrong = ChallengeFlow(auth()).step(user: "alice", password: "not-the-pin", nullok: false)
            XCTAssertEqual(PINHash.verifications, before, name)
            XCTAssertEqual(right.status, .unavailable, name)
            XCTAssertEqual(right, wrong, name)
            XCTAssertEqual(HelperProtocol.status(of: right.status), HelperProtocol.status(of: wrong.status), name)
        }
        XCTAssertEqual(mailer.sent.count, 0)
    }

    // MARK: the code

    func testACodeWhoseChargeCannotBeWrittenIsNotEvaluated() throws {
        try enroll()
        let code = try openChallenge()
        let open = try XCTUnwrap(try record()?.challenges.first)
        for (name, errno) in Self.faults {
            faulty.failWrites = errno
            let right = ChallengeFlow(auth()).answer(user: "alice", transactionID: open.transactionID, code: code)
            let wrong = ChallengeFlow(auth()).answer(user: "alice", transactionID: open.transactionID, code: otherCode(code))
            XCTAssertEqual(right.status, .unavailable, name)
            XCTAssertEqual(right, wrong, name)
            XCTAssertEqual(try record()?.challenges.first, open, "\(name): no try used, nothing granted")
            XCTAssertEqual(try record()?.failCount, 0, name)
        }
        // The right code is granted once the disk takes the charge, and only then.
        faulty.failWrites = nil
        XCTAssertEqual(ChallengeFlow(auth()).answer(user: "alice", transactionID: open.transactionID, code: otherCode(code)).status, .authError)
        XCTAssertEqual(try record()?.failCount, 1)
        XCTAssertEqual(ChallengeFlow(auth()).answer(user: "alice", transactionID: open.transactionID, code: code).status, .success)
    }

    /// RLIMIT_FSIZE one byte under the record's size: a wrong code (same size) could not be
    /// written, a grant (a smaller record) could: codes were guessed without limit. The charge
    /// has the record's size, so nothing is compared at all now.
    func testUnderAFileSizeLimitJustBelowTheRecordNoCodeIsGranted() throws {
        try enroll()
        let code = try openChallenge()
        let open = try XCTUnwrap(try record()?.challenges.first)
        faulty.sizeLimit = RecordFormat.render(try XCTUnwrap(try record())).utf8.count - 1
        for _ in 0..<5 {
            XCTAssertEqual(ChallengeFlow(auth()).answer(user: "alice", transactionID: open.transactionID, code: otherCode(code)).status, .unavailable)
        }
        XCTAssertEqual(ChallengeFlow(auth()).answer(user: "alice", transactionID: open.transactionID, code: code).status, .unavailable,
                       "the right code is not granted while its charge cannot be written")
        XCTAssertEqual(ChallengeFlow(auth()).step(user: "alice", password: Self.pin + code, nullok: false).status, .unavailable)
        XCTAssertEqual(try record()?.challenges.first, open)
        faulty.sizeLimit = nil
        XCTAssertEqual(ChallengeFlow(auth()).answer(user: "alice", transactionID: open.transactionID, code: code).status, .success)
    }

    func testPINAndCodeWhoseChargeCannotBeWrittenAreNotEvaluated() throws {
        try enroll()
        let code = try openChallenge()
        for (name, errno) in Self.faults {
            faulty.failWrites = errno
            let before = PINHash.verifications
            let right = ChallengeFlow(auth()).step(user: "alice", password: Self.pin + code, nullok: false)
            let wrongCode = ChallengeFlow(auth()).step(user: "alice", password: Self.pin + otherCode(code), nullok: false)
            let wrongPIN = ChallengeFlow(auth()).step(user: "alice", password: "not-the-pin" + code, nullok: false)
            XCTAssertEqual(PINHash.verifications, before, "\(name): nothing was hashed")
            XCTAssertEqual(right.status, .unavailable, name)
            XCTAssertEqual(right, wrongCode, name)
            XCTAssertEqual(right, wrongPIN, name)
        }
        faulty.failWrites = nil
        XCTAssertEqual(ChallengeFlow(auth()).step(user: "alice", password: Self.pin + code, nullok: false).status, .success)
    }

    func testAnInteractiveCodeWhoseChargeCannotBeWrittenIsNotEvaluated() throws {
        try enroll()
        for (name, errno) in Self.faults {
            let fail = { [unowned self] (_: String) -> String? in
                self.faulty.failWrites = errno
                return nil
            }
            // The PIN is charged and the mail goes out; the fault strikes before the code's charge.
            let right = seen { interactive([answer(Self.pin), { p in _ = fail(p); return self.lastCode }]) }
            faulty.failWrites = nil
            let wrong = seen { interactive([answer(Self.pin), { p in _ = fail(p); return otherCode(self.lastCode ?? "") }]) }
            faulty.failWrites = nil
            XCTAssertEqual(right.result, .unavailable, name)
            XCTAssertEqual(right.prompts, wrong.prompts, name)
            XCTAssertEqual(right.errors, wrong.errors, name)
            XCTAssertEqual(right.hashes, wrong.hashes, name)
            XCTAssertEqual(right.result, wrong.result, name)
        }
    }

    // MARK: the recovery code

    func testARecoveryCodeWhoseChargeCannotBeWrittenIsNotEvaluated() throws {
        try enroll()
        let codes = try RecoveryCode.generate(count: 2, random: random)
        let hashes = try codes.map { try RecoveryCode.hash($0, random: random) }
        try store.update(user: "alice") { $0?.recoveryHashes = hashes }
        for (name, errno) in Self.faults {
            faulty.failWrites = errno
            let before = PINHash.verifications
            let right = ChallengeFlow(auth()).step(user: "alice", password: Self.pin + codes[0], nullok: false)
            let wrong = ChallengeFlow(auth()).step(user: "alice", password: Self.pin + "zzzzz-99999", nullok: false)
            let bare = ChallengeFlow(auth()).answer(user: "alice", transactionID: String(repeating: "1", count: 20), code: codes[0])
            XCTAssertEqual(PINHash.verifications, before, "\(name): nothing was hashed")
            XCTAssertEqual(right.status, .unavailable, name)
            XCTAssertEqual(right, wrong, name)
            XCTAssertEqual(try record()?.recoveryHashes, hashes, "\(name): no code used up")
            XCTAssertEqual(try record()?.failCount, 0, name)
            _ = bare
        }
        faulty.failWrites = nil
        XCTAssertEqual(ChallengeFlow(auth()).step(user: "alice", password: Self.pin + codes[0], nullok: false).status, .success)
        XCTAssertEqual(try record()?.recoveryHashes.count, 1)
    }

    // MARK: the order of things

    /// When the compare starts, the disk already holds the failure and the used try.
    func testTheChargeIsOnDiskBeforeTheCompare() throws {
        try enroll()
        let code = try openChallenge()
        faulty.onDiskAtCompare = []
        XCTAssertEqual(ChallengeFlow(auth()).step(user: "alice", password: Self.pin + otherCode(code), nullok: false).status, .authError)
        let charged = try XCTUnwrap(faulty.onDiskAtCompare.first ?? nil)
        XCTAssertEqual(charged.failCount, 2, "one failure per PIN candidate (before the code, the whole password)")
        XCTAssertEqual(charged.challenges.first?.triesLeft, config.otpTries - 1)

        faulty.onDiskAtCompare = []
        XCTAssertEqual(ChallengeFlow(auth()).step(user: "alice", password: Self.pin + code, nullok: false).status, .success)
        XCTAssertEqual(faulty.onDiskAtCompare.first??.failCount, 3, "the right answer was charged too")
        XCTAssertEqual(try record()?.failCount, 0, "and refunded with the grant")

        faulty.onDiskAtCompare = []
        guard case .sent = try auth().trigger(user: "alice", pin: Self.pin) else { return XCTFail("no challenge") }
        XCTAssertEqual(faulty.onDiskAtCompare.first??.failCount, 1, "a PIN is charged before it is hashed")
        XCTAssertEqual(try record()?.failCount, 0, "a right PIN gives it back")
    }

    /// A right answer refunds its charge in the same locked update: nothing else is left.
    func testARightPINLeavesTheRecordAsTheOldFlowDid() throws {
        try enroll()
        try store.update(user: "alice") { $0?.failCount = 3 }
        guard case .sent = try auth().trigger(user: "alice", pin: Self.pin) else { return XCTFail("no challenge") }
        XCTAssertEqual(try record()?.failCount, 3, "a right PIN is no success yet, and no failure")
        XCTAssertEqual(try auth().trigger(user: "alice", pin: "not-the-pin"), .refused(.wrongPIN))
        XCTAssertEqual(try record()?.failCount, 4)
    }

    /// The last allowed guess locks the token in its charge; when it is right, the refund unlocks.
    func testARightLastGuessIsRefundedOutOfTheLock() throws {
        config.maxFail = 3
        try enroll()
        let code = try openChallenge()
        try store.update(user: "alice") { $0?.failCount = 2 }
        XCTAssertEqual(ChallengeFlow(auth()).step(user: "alice", password: Self.pin + code, nullok: false).status, .success)
        XCTAssertEqual(try record()?.isLocked, false)
        XCTAssertEqual(try record()?.failCount, 0)
    }

    // MARK: hashes that cannot be computed

    /// Under a low RLIMIT_AS yescrypt cannot get its memory: that is a service error, never a
    /// wrong PIN, and nothing is counted. Run in a child process with the limit set.
    func testACryptFailureIsAServiceErrorAndNotCounted() throws {
        // AddressSanitizer's shadow memory takes terabytes of address space: no RLIMIT_AS fits it.
        try XCTSkipIf(TestProcess.underAddressSanitizer, "no address-space limit under AddressSanitizer")
        try enroll()
        try store.update(user: "alice") { $0?.failCount = 1 }
        let auth = self.auth()
        let status = try inChild(addressSpace: 6 << 20) { () -> Int32 in
            let conversation = ScriptedConversation([{ _ in FlowTestCase.pin }])
            let result = InteractiveFlow(auth).run(user: "alice", conversation: conversation, nullok: false, stackPIN: nil, firstPass: .no).status
            let step = ChallengeFlow(auth).step(user: "alice", password: "not-the-pin", nullok: false)
            return result == .serviceError && step.status == .serviceError ? 0 : 1
        }
        XCTAssertEqual(status, 0, "both answers are a service error while yescrypt cannot run")
        XCTAssertEqual(try record()?.failCount, 1, "nothing counted")
        XCTAssertEqual(mailer.sent.count, 0)
    }

    /// Runs `body` in a forked child whose address space may grow by at most `addressSpace`
    /// bytes beyond its current size; returns the child's exit status.
    func inChild(addressSpace: Int, _ body: () -> Int32) throws -> Int32 {
        let pid = fork()
        guard pid >= 0 else { throw SystemError("fork", "") }
        if pid == 0 {
            var limit = rlimit()
            limit.rlim_cur = rlim_t(Self.currentAddressSpace() + addressSpace)
            limit.rlim_max = limit.rlim_cur
            if setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) != 0 { _exit(3) }
            // yescrypt at the default cost needs more than `addressSpace`: check it really fails.
            if (try? PINHash.crypt("probe", setting: "$y$j9T$\(PINHash.dummySalt)$")) != nil { _exit(2) }
            _exit(body())
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status & 0x7f == 0 else { return 128 + (status & 0x7f) }
        return (status >> 8) & 0xff
    }

    static func currentAddressSpace() -> Int {
        guard let text = try? SafeFile.readText("/proc/self/status", policy: FilePolicy(owner: geteuid(), forbiddenModeBits: 0, maxSize: 1 << 20)) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmSize:") {
            let number = line.dropFirst(7).split(separator: " ").first.map(String.init) ?? ""
            return (Int(number) ?? 0) * 1024
        }
        return 0
    }
}
