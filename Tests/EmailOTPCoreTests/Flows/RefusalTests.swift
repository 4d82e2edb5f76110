import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPFlows
@testable import EmailOTPStore
@testable import EmailOTPToken

/// Refusals are a pure mapping (Refusals.swift), and the lockout alert is the last step of a
/// flow that refused (Alerts.swift, `alertLockout(user:due:)`).
final class RefusalTests: FlowTestCase {
    func counting() -> (Authenticator, StoreWorkTests.CountingStore) {
        let counting = StoreWorkTests.CountingStore(store)
        let authenticator = Authenticator(config: config, pinMode: .token, store: counting, clock: clock, random: random,
                                          mailer: mailer, logger: logger,
                                          context: RequestContext(service: "sshd", rhost: "192.0.2.7", host: "host.example.org"))
        return (authenticator, counting)
    }

    /// Mapping every outcome touches no store, logs nothing and mails nothing; it says which
    /// refusals are due the lockout alert.
    func testTheMappingIsPureAndNamesTheRefusalsDueTheAlert() throws {
        config.notify = [.lockout]
        try enroll()
        let (authenticator, store) = counting()
        let trigger: [(TriggerOutcome, Bool)] = [(.refused(.noToken), true), (.refused(.disabled), true), (.refused(.locked), true),
                                                 (.refused(.wrongPIN), true), (.refused(.noPIN), true), (.rateLimited, false)]
        for (outcome, due) in trigger {
            XCTAssertEqual(authenticator.refusal(outcome)?.alertsLockout, due, "\(outcome)")
        }
        XCTAssertNil(authenticator.refusal(TriggerOutcome.remembered))
        let verify: [(VerifyOutcome, Bool)] = [(.wrong(triesLeft: 2), true), (.wrong(triesLeft: 0), true), (.wrongPIN, true),
                                               (.locked, true), (.expired, false), (.noChallenge, false), (.disabled, false),
                                               (.noToken, false), (.noPIN, false)]
        for (outcome, due) in verify {
            XCTAssertEqual(authenticator.refusal(outcome, transactionID: "12345678901234567890").alertsLockout, due, "\(outcome)")
        }
        XCTAssertFalse(authenticator.refusal(storeError: DeliveryFailure(reason: "x")).alertsLockout)
        XCTAssertFalse(authenticator.refusal(triggerError: DeliveryFailure(reason: "x")).alertsLockout)
        XCTAssertEqual(store.calls, [], "the mapping reads no store")
        XCTAssertTrue(logger.lines.isEmpty, "the mapping logs nothing: \(logger.text)")
        XCTAssertTrue(mailer.sent.isEmpty, "the mapping mails nothing")
    }

    /// A wrong PIN for a usable, locked, disabled, PIN-less or missing token: the same store
    /// calls in every case, and the last is the alert hook's read, after the refusal is logged.
    func testEveryPINRefusalEndsWithTheAlertHookAlike() throws {
        config.notify = [.lockout]
        var calls: [String: [String]] = [:]
        for state in ["usable", "locked", "disabled", "no-pin", "missing"] {
            try? FileManager.default.removeItem(atPath: storeDirectory)
            store = FileStore(directory: storeDirectory, owner: geteuid(), random: random, clock: clock)
            switch state {
            case "usable": try enroll()
            case "locked":
                var record = try enroll()
                record.lockedAt = 1
                _ = record.markLockAlerted()
                try store.update(user: "alice") { $0 = record }
            case "disabled": try enroll(enabled: false)
            case "no-pin": try enroll(pin: nil)
            default: break
            }
            logger = CollectingLogger()
            let (authenticator, counted) = counting()
            let result = InteractiveFlow(authenticator).run(user: "alice", conversation: ScriptedConversation([answer("not-the-PIN")]),
                                                   nullok: false, stackPIN: nil, firstPass: .no).status
            XCTAssertEqual(result, .authError, state)
            XCTAssertEqual(counted.calls.last, "read", "\(state): the alert hook is the last step: \(counted.calls)")
            XCTAssertTrue(logger.lines.last?.message.contains("PIN") == true, "\(state): \(logger.text)")
            calls[state] = counted.calls
        }
        for (state, seen) in calls { XCTAssertEqual(seen, calls["usable"], "\(state) differs from a usable token") }
    }
}
