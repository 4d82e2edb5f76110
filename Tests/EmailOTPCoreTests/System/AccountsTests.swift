@testable import EmailOTPSystem
import Glibc
import XCTest

/// The account and group lookups copy what they return while the lookup's buffer is alive
/// (an AddressSanitizer build of this suite reports a read after it).
final class AccountsTests: XCTestCase {
    func testLookupByNameAndByUid() throws {
        let root = try XCTUnwrap(Account.lookup(name: "root"))
        XCTAssertEqual(root, Account(name: "root", uid: 0, gid: 0))
        XCTAssertEqual(Account.lookup(uid: 0), root)
        XCTAssertNil(Account.lookup(name: "no-such-user-emailotp-\(getpid())"))
        XCTAssertNil(Account.lookup(name: ""))
    }

    func testUnknownUidIsNil() {
        // No distribution allocates this uid (useradd's limit is 60000; nobody is 65534).
        XCTAssertNil(Account.lookup(uid: 4_000_000_000))
    }

    func testGroupListHoldsThePrimaryGroup() throws {
        let groups = try XCTUnwrap(Account(name: "root", uid: 0, gid: 0).groupList())
        XCTAssertTrue(groups.contains(0))
        XCTAssertEqual(Account(name: "no-such-user-emailotp-\(getpid())", uid: 12345, gid: 54321).groupList(), [54321],
                       "getgrouplist lists the given primary group even for a name no group names")
    }

    func testGroupIdLookup() {
        XCTAssertEqual(UnixGroup.id(of: "root"), 0)
        XCTAssertNil(UnixGroup.id(of: "no-such-group-emailotp"))
    }

    /// The buffer grows on ERANGE: a first buffer too small for any entry still finds it.
    func testLookupGrowsTheBufferOnERANGE() {
        var sizes = [Int]()
        let found: String? = Reentrant.lookup(passwd()) { entry, buffer, size, result in
            sizes.append(size)
            guard size > 4096 else { return ERANGE }
            return getpwnam_r("root", entry, buffer, size, result)
        } copy: { entry in entry.pw_name.flatMap { String(validatingCString: $0) } }
        XCTAssertEqual(found, "root")
        XCTAssertEqual(sizes, [4096, 8192])
    }
}
