import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPHelper

/// The helper's trust rule: every rule the hostile suite attacks, decided without a process.
final class CallerPolicyTests: XCTestCase {
    let root = HelperCaller(uid: 0, name: "root", groups: [0])
    let web = HelperCaller(uid: 33, name: "www-data", groups: [33, 900])
    let alice = HelperCaller(uid: 1000, name: "alice", groups: [1000])
    let groups: (String) -> gid_t? = { $0 == "otpweb" ? 900 : nil }

    func login(_ user: String, service: String = "webapp", rhost: String = "", claimedUID: uid_t = 0) -> CallerPolicy.Request {
        .login(HelperProtocol.Request(user: user, service: service, rhost: rhost, authtok: nil, callerUID: claimedUID,
                                      program: "/usr/bin/claimed"))
    }

    func admitted(_ caller: HelperCaller, _ arguments: [String]) throws -> CallerPolicy.Admission {
        try CallerPolicy.admit(caller: caller, arguments: arguments).get()
    }

    func refusal<T>(_ result: Result<T, CallerPolicy.Refusal>) -> String? {
        if case .failure(let refusal) = result { return refusal.reason }
        return nil
    }

    func decide(_ caller: HelperCaller, _ request: CallerPolicy.Request, group: String = "", verb: [String] = ["login"])
        throws -> Result<CallerPolicy.Decision, CallerPolicy.Refusal> {
        CallerPolicy.decide(try admitted(caller, verb), caller: caller, helperGroup: group, request: request, groupID: groups)
    }

    // MARK: arguments

    func testRootMayNameAConfigurationOverridesAndPinNone() throws {
        let admission = try admitted(root, ["login", "config=/etc/other.conf", "store=/tmp/s", "pin=none"])
        XCTAssertTrue(admission.trusted)
        XCTAssertEqual(admission.configPath, "/etc/other.conf")
        XCTAssertTrue(admission.configExplicit)
        XCTAssertEqual(admission.overrides.map(\.key), ["store"])
    }

    func testOthersMayNotChooseTheConfigurationAnySettingOrPinNone() {
        for caller in [web, alice] {
            XCTAssertTrue(refusal(CallerPolicy.admit(caller: caller, arguments: ["login", "config=/home/alice/c"]))?
                .hasPrefix("refused argument config=: the helper reads only \(ConfigLoader.defaultPath)") == true)
            XCTAssertTrue(refusal(CallerPolicy.admit(caller: caller, arguments: ["login", "mail_template=/etc/shadow"]))?
                .hasPrefix("refused argument mail_template=") == true)
            XCTAssertTrue(refusal(CallerPolicy.admit(caller: caller, arguments: ["login", "pin=none"]))?
                .hasPrefix("refused pin=none") == true)
        }
    }

    func testAnOrdinaryCallerReadsTheSystemConfigurationWhateverItsOptions() throws {
        let admission = try admitted(web, ["login", "mode=challenge", "nullok", "debug"])
        XCTAssertFalse(admission.trusted)
        XCTAssertEqual(admission.configPath, ConfigLoader.defaultPath)
        XCTAssertFalse(admission.configExplicit)
        XCTAssertTrue(admission.overrides.isEmpty)
        XCTAssertEqual(admission.options.mode, .challenge)
    }

    func testUnknownVerbsBadArgumentsAndArgumentsToTokenAreRefused() {
        XCTAssertTrue(refusal(CallerPolicy.admit(caller: alice, arguments: []))?.hasPrefix("usage:") == true)
        XCTAssertTrue(refusal(CallerPolicy.admit(caller: alice, arguments: ["check"]))?.hasPrefix("usage:") == true)
        XCTAssertTrue(refusal(CallerPolicy.admit(caller: alice, arguments: ["login", "bogus"]))?.hasPrefix("bad module arguments") == true)
        XCTAssertTrue(refusal(CallerPolicy.admit(caller: alice, arguments: ["token", "bob"]))?.contains("takes no arguments") == true)
    }

    // MARK: helper_group and the caller's own login

    func testAProgramMayAskForTheLoginOfItsOwnUserWithoutHelperGroup() throws {
        let decision = try decide(alice, login("alice", service: "xsecurelock")).get()
        XCTAssertEqual(decision.kind, .ownLogin)
        XCTAssertEqual(decision.user, "alice")
        // Still a claim: labelled, never one of root's services; waits its own fail delay.
        XCTAssertEqual(decision.service, "xsecurelock (claimed by uid 1000 (alice))")
        XCTAssertTrue(decision.waitsItself)
        XCTAssertNil(decision.slotUID)
    }

    func testAnotherUsersLoginNeedsHelperGroup() throws {
        XCTAssertTrue(refusal(try decide(alice, login("bob")))?.hasPrefix(
            "refused: helper_group is not set in \(ConfigLoader.defaultPath); set helper_group = GROUP") == true)
        XCTAssertEqual(refusal(try decide(alice, login("bob"), group: "nosuch")), "refused: helper_group nosuch is not a group on this host")
        XCTAssertTrue(refusal(try decide(alice, login("bob"), group: "otpweb"))?.hasPrefix("refused: not a member of helper_group otpweb") == true)
        let member = try decide(web, login("bob", rhost: "10.0.0.1"), group: "otpweb").get()
        XCTAssertEqual(member.kind, .helperGroup)
        XCTAssertEqual(member.service, "webapp (claimed by uid 33 (www-data))")
        XCTAssertEqual(member.rhost, "10.0.0.1 (claimed)")
        XCTAssertTrue(member.tag.hasPrefix("(via helper, caller uid 33)"))
    }

    func testOwnMeansTheExactNameOfTheRealUidNeverAVariantOrAClaim() throws {
        // The request's caller uid is the caller's word: it changes nothing.
        XCTAssertNotNil(refusal(try decide(alice, login("bob", claimedUID: 1001))))
        XCTAssertNotNil(refusal(try decide(alice, login("ALICE"))))
        XCTAssertNotNil(refusal(try decide(alice, login("alice "))))
        XCTAssertNotNil(refusal(try decide(alice, login("root", claimedUID: 0))))
        let nameless = HelperCaller(uid: 4242, name: nil, groups: [4242])
        XCTAssertNotNil(refusal(try decide(nameless, login(""))))
        XCTAssertNotNil(refusal(try decide(nameless, login("?"))))
    }

    func testAnEmptyServiceIsLabelledAsALoginClaim() throws {
        XCTAssertEqual(try decide(alice, login("alice", service: "")).get().service, "login (claimed by uid 1000 (alice))")
    }

    func testRootsCleanProcessIsBelievedAndBoundedPerApplicationUser() throws {
        let decision = try decide(root, login("bob", service: "sudo", rhost: "", claimedUID: 1000)).get()
        XCTAssertEqual(decision.kind, .root)
        XCTAssertEqual(decision.service, "sudo")
        XCTAssertEqual(decision.slotUID, 1000)
        XCTAssertTrue(decision.waitsItself, "the caller of su must not watch the helper end before the fail delay")
        XCTAssertNil(try decide(root, login("bob", claimedUID: 0)).get().slotUID)
    }

    // MARK: own token

    func testOwnTokenIsTheRealUidsWhateverTheCaller() throws {
        for action: HelperProtocol.TokenAction in [.status, .setPIN, .recoveryCodes(count: 5), .forget] {
            let decision = try decide(alice, .token(action), verb: ["token"]).get()
            XCTAssertEqual(decision.kind, .ownToken)
            XCTAssertEqual(decision.user, "alice")
            XCTAssertEqual(decision.service, "emailotp \(action.verb) (own token of uid 1000)")
            XCTAssertEqual(decision.rhost, "")
            XCTAssertTrue(decision.waitsItself)
        }
        XCTAssertEqual(try decide(root, .token(.status), verb: ["token"]).get().user, "root")
        XCTAssertEqual(try decide(web, .token(.status), group: "otpweb", verb: ["token"]).get().user, "www-data")
    }

    func testAUidWithoutANameHasNoOwnToken() throws {
        let nameless = HelperCaller(uid: 4242, name: nil, groups: [4242])
        XCTAssertEqual(refusal(try decide(nameless, .token(.status), verb: ["token"])), "refused: uid 4242 has no account name")
    }

    func testARequestOfTheOtherVerbIsRefused() throws {
        XCTAssertNotNil(refusal(try decide(alice, .token(.status), verb: ["login"])))
        XCTAssertNotNil(refusal(try decide(alice, login("alice"), verb: ["token"])))
        XCTAssertNotNil(refusal(try decide(root, login("alice"), verb: ["token"])))
    }
}
