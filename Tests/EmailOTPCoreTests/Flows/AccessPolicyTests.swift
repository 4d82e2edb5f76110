import Glibc
import XCTest
@testable import EmailOTPConfig
import EmailOTPCore
@testable import EmailOTPFlows
@testable import EmailOTPHelper
@testable import EmailOTPStore
@testable import EmailOTPSystem

/// NSS groups as a directory would answer them.
struct FakeGroups: GroupDirectory {
    var ids: [String: gid_t] = ["admins": 100, "contractors": 200, "users": 300]
    var members: [String: [gid_t]] = [:]
    var lookups = Counter()
    func memberships(of user: String) -> [gid_t]? {
        lookups.value += 1
        return members[user]
    }
    func groupID(named name: String) -> gid_t? { ids[name] }
}

final class Counter {
    var value = 0
}

/// `groups` and `trusted_networks`: who is asked, and from where; decided before any store or
/// mail work, ending in PAM_IGNORE (never success) for those not asked.
final class AccessPolicyTests: FlowTestCase {
    var groups = FakeGroups()

    func run(user: String = "alice", pinMode: PINMode = .token, rhost: String = "192.0.2.7",
             mode: FlowMode = .interactive, _ answers: [(String) -> String?]) -> (AuthResult, ScriptedConversation) {
        var a = Authenticator(config: config, pinMode: pinMode, store: store, clock: clock, random: random,
                              mailer: mailer, logger: logger,
                              context: RequestContext(service: "sshd", rhost: rhost, host: "host.example.org"))
        a.groups = groups
        a.accounts = FakeAccounts(names: [:])
        var options = ModuleOptions()
        options.pinMode = pinMode
        options.mode = mode
        let conversation = ScriptedConversation(answers)
        return (PAMLogin.run(a, options: options, user: user, conversation: conversation, authtok: nil), conversation)
    }

    // MARK: parsing

    func testGroupsParseInclusionsAndExclusions() throws {
        let rule = try GroupRule.parse(" admins, !contractors ,Domain Admins, ! guests")
        XCTAssertEqual(rule.included, ["admins", "Domain Admins"])
        XCTAssertEqual(rule.excluded, ["contractors", "guests"])
        XCTAssertEqual(rule.text, "admins,Domain Admins,!contractors,!guests")
        XCTAssertTrue(try GroupRule.parse("").isEmpty)
    }

    func testBadGroupsAreAClearConfigError() {
        for bad in ["admins,,users", "!", "a:b", "admins,!!x"] {
            XCTAssertThrowsError(try ConfigKeys.apply("groups", bad, to: &config), bad) { error in
                XCTAssertTrue("\(error)".hasPrefix("groups: "), "\(error)")
            }
        }
    }

    func testTrustedNetworksParse() throws {
        let list = try TrustedNetworks.parse("10.0.0.0/8, 192.0.2.7, 2001:db8::/32")
        XCTAssertEqual(list.text, "10.0.0.0/8,192.0.2.7/32,2001:db8::/32")
        XCTAssertFalse(list.trustsEverything)
        XCTAssertTrue(try TrustedNetworks.parse("0.0.0.0/0").trustsEverything)
        XCTAssertTrue(try TrustedNetworks.parse("").isEmpty)
    }

    func testBadTrustedNetworksAreAClearConfigError() {
        for bad in ["10.0.0.1/8", "intranet.example.org", "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/x", "10.0.0.0/8,,", "10.0.0/8"] {
            XCTAssertThrowsError(try ConfigKeys.apply("trusted_networks", bad, to: &config), bad) { error in
                XCTAssertTrue("\(error)".hasPrefix("trusted_networks: "), "\(error)")
            }
        }
    }

    func testOnlyLiteralAddressesInsideMatch() throws {
        let list = try TrustedNetworks.parse("10.0.0.0/8,2001:db8:1::/48,172.16.4.0/23")
        for inside in ["10.1.2.3", "::ffff:10.1.2.3", "2001:db8:1:ffff::1", "172.16.4.9", "172.16.5.255"] {
            XCTAssertTrue(list.contains(rhost: inside), inside)
        }
        // Names are never resolved (CVE-2024-10963): not even one that spells an address.
        for outside in ["", "11.0.0.1", "172.16.6.1", "2001:db8:2::1", "10.1.2.3.nip.io", "localhost", "10.1.2.3 ",
                        "10.1.2.3 (claimed)", "10.1.2", "0x0a010203", "[10.1.2.3]"] {
            XCTAssertFalse(list.contains(rhost: outside), outside)
        }
    }

    // MARK: groups

    func testAMemberOfAListedGroupIsAsked() throws {
        try enroll()
        config.groups = try GroupRule.parse("admins")
        groups.members = ["alice": [300, 100]]
        let (result, conversation) = run([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .success)
        XCTAssertEqual(mailer.sent.count, 1)
        XCTAssertEqual(conversation.prompts.count, 2)
    }

    func testANonMemberIsIgnoredBeforeAnyPromptStoreOrMail() throws {
        config.groups = try GroupRule.parse("admins")
        groups.members = ["alice": [300]]
        // No token and no nullok: anyone asked would be prompted and refused; the store does
        // not even exist, so any store work would be an error.
        config.store = "\(root)/no-such-store"
        store = FileStore(directory: config.store, owner: geteuid(), random: random, clock: clock)
        for mode in [FlowMode.interactive, .challenge] {
            let (result, conversation) = run(mode: mode, [answer(Self.pin)])
            XCTAssertEqual(result, .ignore, "never success")
            XCTAssertEqual(conversation.prompts, [])
        }
        XCTAssertEqual(mailer.sent.count, 0)
        XCTAssertFalse(fileExists(config.store))
        XCTAssertTrue(logger.lines.contains { $0.1.contains("ignored: in none of the groups \"admins\"") })
    }

    func testAnExcludedGroupWinsOverAListedOne() throws {
        try enroll()
        config.groups = try GroupRule.parse("admins,!contractors")
        groups.members = ["alice": [100, 200]]
        let (result, conversation) = run([answer(Self.pin), mailedCode()])
        XCTAssertEqual(result, .ignore)
        XCTAssertEqual(conversation.prompts, [])
        XCTAssertTrue(logger.lines.contains { $0.1.contains("in excluded group \"contractors\"") })
    }

    func testExclusionsOnlyAskEveryoneElse() throws {
        try enroll()
        try enroll("bob", email: "bob@example.com")
        config.groups = try GroupRule.parse("!contractors")
        groups.members = ["alice": [300], "bob": [300, 200]]
        XCTAssertEqual(run(user: "alice", [answer(Self.pin), mailedCode()]).0, .success)
        XCTAssertEqual(run(user: "bob", [answer(Self.pin), mailedCode()]).0, .ignore)
        XCTAssertEqual(mailer.sent.count, 1)
    }

    func testDoubtAsks() throws {
        try enroll()
        // A user NSS does not know, and a listed group NSS cannot resolve (a directory down):
        // both are asked, never waved through.
        config.groups = try GroupRule.parse("admins")
        groups.members = [:]
        XCTAssertEqual(run([answer(Self.pin), mailedCode()]).0, .success)
        config.groups = try GroupRule.parse("admins,ldap-admins")
        groups.members = ["alice": [300]]
        XCTAssertEqual(run([answer(Self.pin), mailedCode()]).0, .success)
        XCTAssertEqual(mailer.sent.count, 2)
    }

    func testNoGroupsRuleLooksNothingUp() throws {
        try enroll()
        XCTAssertEqual(run([answer(Self.pin), mailedCode()]).0, .success)
        XCTAssertEqual(groups.lookups.value, 0)
    }

    // MARK: trusted_networks

    func testPinNoneFromATrustedNetworkIsIgnoredWithoutMail() throws {
        try enroll(pin: nil)
        config.trustedNetworks = try TrustedNetworks.parse("192.0.2.0/24")
        let (result, conversation) = run(pinMode: .none, [mailedCode()])
        XCTAssertEqual(result, .ignore)
        XCTAssertEqual(conversation.prompts, [])
        XCTAssertEqual(mailer.sent.count, 0)
    }

    func testPinNoneOutsideOrByNameIsAsked() throws {
        try enroll(pin: nil)
        config.trustedNetworks = try TrustedNetworks.parse("192.0.2.0/24")
        for rhost in ["198.51.100.1", "trusted.example.org", ""] {
            XCTAssertEqual(run(pinMode: .none, rhost: rhost, [mailedCode()]).0, .success, rhost)
        }
        XCTAssertEqual(mailer.sent.count, 3)
    }

    func testPinTokenFromATrustedNetworkChecksThePINAlone() throws {
        try enroll()
        config.trustedNetworks = try TrustedNetworks.parse("192.0.2.0/24")
        let (granted, prompts) = run([answer(Self.pin)])
        XCTAssertEqual(granted, .success)
        XCTAssertEqual(prompts.prompts, ["PIN: "])
        XCTAssertEqual(mailer.sent.count, 0)
        // A wrong PIN is charged like any other.
        let (refused, _) = run([answer("wrong")])
        XCTAssertEqual(refused, .authError)
        XCTAssertEqual(try record()?.failCount, 1)
        // Challenge mode: the PIN alone grants too.
        XCTAssertEqual(run(mode: .challenge, [answer(Self.pin)]).0, .success)
        XCTAssertEqual(try record()?.failCount, 0)
        XCTAssertEqual(mailer.sent.count, 0)
    }

    func testPinTokenFromATrustedNetworkStillRefusesALockedToken() throws {
        try enroll()
        config.trustedNetworks = try TrustedNetworks.parse("192.0.2.0/24")
        try store.update(user: "alice") { $0?.lockedAt = clock.now() }
        XCTAssertEqual(run([answer(Self.pin)]).0, .authError)
    }
}
