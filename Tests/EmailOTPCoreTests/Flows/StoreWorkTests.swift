import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPFlows
@testable import EmailOTPStore
@testable import EmailOTPToken

/// The store work of one login, counted by a store that passes every call on to the file
/// store: the calls in order, the locked transactions (`update`, `attempt`) and the durable
/// record writes (an `update` that changes the record writes it once; an `attempt` always
/// writes twice, the charge and the settlement, or the decoy in their place: FileStore.attempt).
final class StoreWorkTests: FlowTestCase {
    final class CountingStore: TokenStore {
        let base: TokenStore
        var calls: [String] = []
        var writes = 0
        /// Inside `update` or `attempt`: a call made there is recorded as `attempt.codeKey`.
        var inside: String? = nil

        init(_ base: TokenStore) { self.base = base }

        var transactions: Int { calls.filter { $0 == "update" || $0 == "attempt" }.count }

        func read(user: String) throws -> TokenRecord? {
            calls.append("read")
            return try base.read(user: user)
        }

        func update<T>(user: String, _ body: (inout TokenRecord?, _ now: Int64) throws -> T) throws -> T {
            calls.append("update")
            inside = "update"
            defer { inside = nil }
            return try base.update(user: user) { record, now in
                let before = record
                let result = try body(&record, now)
                if record != before { writes += 1 }
                return result
            }
        }

        func attempt<T>(user: String, charge: (inout TokenRecord?, _ now: Int64) throws -> Void,
                        settle: (inout TokenRecord?, _ charged: TokenRecord?, _ now: Int64) throws -> T) throws -> T {
            calls.append("attempt")
            inside = "attempt"
            defer { inside = nil }
            writes += 2
            return try base.attempt(user: user, charge: charge, settle: settle)
        }

        func users() throws -> [String] { try base.users() }

        func codeKey() throws -> [UInt8] {
            calls.append(inside.map { "\($0).codeKey" } ?? "codeKey")
            return try base.codeKey()
        }
    }

    func counted(_ login: (Authenticator) -> AuthResult) -> (AuthResult, CountingStore) {
        let counting = CountingStore(store)
        let authenticator = Authenticator(config: config, pinMode: .token, store: counting, clock: clock, random: random,
                                          mailer: mailer, logger: logger,
                                          context: RequestContext(service: "sshd", rhost: "192.0.2.7", host: "host.example.org"))
        return (login(authenticator), counting)
    }

    /// PIN, mail, code: the trigger's attempt, the arming of the challenge after its mail, and
    /// the code's attempt.
    func testAPlainInteractiveLogin() throws {
        try enroll()
        let (result, counting) = counted {
            InteractiveFlow($0).run(user: "alice", conversation: ScriptedConversation([answer(Self.pin), mailedCode()]),
                           nullok: false, stackPIN: nil, firstPass: .no).status
        }
        XCTAssertEqual(result, .success)
        // The code key is read once by each attempt's charge, under the user's lock (`Attempt.Keys`).
        XCTAssertEqual(counting.calls, ["read", "attempt", "attempt.codeKey", "update", "attempt", "attempt.codeKey"])
        XCTAssertEqual(counting.transactions, 3)
        XCTAssertEqual(counting.writes, 5)
    }

    /// With `remember` and the `new_host` alert: after the grant, the host is remembered and
    /// noted in one more transaction, and the alert reserves its quota in another.
    func testAnInteractiveLoginThatRemembersAndAlerts() throws {
        config.remember = 3600
        config.notify = [.newHost]
        try enroll()
        let (result, counting) = counted {
            InteractiveFlow($0).run(user: "alice", conversation: ScriptedConversation([answer(Self.pin), mailedCode()]),
                           nullok: false, stackPIN: nil, firstPass: .no).status
        }
        XCTAssertEqual(result, .success)
        XCTAssertEqual(mailer.sent.count, 2, "the code and the new_host alert")
        XCTAssertEqual(counting.calls.filter { !$0.hasSuffix("codeKey") }, ["read", "attempt", "update", "attempt", "update", "update"])
        XCTAssertEqual(counting.transactions, 5)
        XCTAssertEqual(counting.writes, 7)
    }
}
