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

    // MARK: the helper's own process

    func testNothingIsEvaluatedUnlessTheHelperRunsAsRootWithTheLimitsALoginNeeds() {
        for caller in [root, web, alice] {
            XCTAssertEqual(refusal(CallerPolicy.admit(caller: caller, start: HelperStart(setuidRoot: false), arguments: ["login"])),
                           "emailotp-helper is not setuid root (install.sh installs it mode 4755 root)")
            XCTAssertEqual(refusal(CallerPolicy.admit(caller: caller, start: HelperStart(identityError: "Operation not permitted"),
                                                      arguments: ["token"])),
                           "cannot drop the caller's identity: Operation not permitted")
            // A hard limit the caller lowered and root could not raise (no CAP_SYS_RESOURCE).
            XCTAssertEqual(refusal(CallerPolicy.admit(caller: caller, start: HelperStart(lowLimit: "RLIMIT_FSIZE"), arguments: ["login"])),
                           "refused: RLIMIT_FSIZE is below what a login needs and cannot be raised "
                            + "(a hard limit lowered by the caller, and no CAP_SYS_RESOURCE)")
        }
        // Before the arguments: even a usage error is not looked at.
        XCTAssertEqual(refusal(CallerPolicy.admit(caller: web, start: HelperStart(setuidRoot: false), arguments: ["bogus"])),
                       "emailotp-helper is not setuid root (install.sh installs it mode 4755 root)")
    }

    func testHelpersOfACallerThatIsNotRootAreCountedForItsUidBeforeTheRequest() throws {
        XCTAssertEqual(try admitted(web, ["login"]).slotUID, 33)
        XCTAssertEqual(try admitted(alice, ["token"]).slotUID, 1000)
        XCTAssertNil(try admitted(root, ["login"]).slotUID, "root's clean process counts for the application's uid, once it is known")
        XCTAssertNil(try admitted(root, ["token"]).slotUID)
    }

    // MARK: claims

    func testTheRemoteUserIsAClaimOfWhoeverIsNotRootAndTheTerminalPassesAsGiven() throws {
        var request = HelperProtocol.Request(user: "bob", service: "webapp", rhost: "", authtok: nil, callerUID: 0, program: "/x",
                                             tty: "pts/3", ruser: "mallory")
        let member = try decide(web, .login(request), group: "otpweb").get()
        XCTAssertEqual(member.ruser, "mallory (claimed by uid 33)")
        XCTAssertEqual(member.tty, "pts/3")
        XCTAssertEqual(member.context.ruser, "mallory (claimed by uid 33)")
        XCTAssertEqual(member.context.service, "webapp (claimed by uid 33 (www-data))")
        request.user = "alice"
        XCTAssertEqual(try decide(alice, .login(request)).get().ruser, "mallory (claimed by uid 1000)")
        let clean = try decide(root, .login(request)).get()
        XCTAssertEqual(clean.ruser, "mallory")
        XCTAssertEqual(clean.tty, "pts/3")
        XCTAssertEqual(clean.context.service, "webapp")
    }

    func testTheLogNamesTheCallersProgramAsTheKernelTellsItNeverTheClaimedOne() throws {
        let app = HelperCaller(uid: 33, name: "www-data", groups: [33, 900], program: "/usr/sbin/nginx")
        let claiming = HelperProtocol.Request(user: "bob", service: "webapp", rhost: "", authtok: nil, callerUID: 0, program: "/usr/bin/su")
        XCTAssertEqual(try decide(app, .login(claiming), group: "otpweb").get().tag, "(via helper, caller uid 33) application /usr/sbin/nginx")
        XCTAssertEqual(try decide(web, .login(claiming), group: "otpweb").get().tag, "(via helper, caller uid 33) application ?")
        XCTAssertEqual(try decide(app, .token(.status), verb: ["token"]).get().tag, "(own token, caller uid 33) application /usr/sbin/nginx")
        // Root's clean process names the application it runs for.
        XCTAssertEqual(try decide(root, .login(claiming)).get().tag, "(clean process for uid 0, application /usr/bin/su)")
        XCTAssertEqual(try decide(root, .token(.status), verb: ["token"]).get().tag, "(own token, caller uid 0)")
    }

    func testRootWaitsItsOwnFailDelayForLoginsButNotForItsOwnToken() throws {
        XCTAssertTrue(try decide(root, login("bob")).get().waitsItself)
        XCTAssertFalse(try decide(root, .token(.status), verb: ["token"]).get().waitsItself)
        XCTAssertTrue(try decide(alice, .token(.status), verb: ["token"]).get().waitsItself)
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
