import XCTest
@testable import EmailOTPConfig

/// The "no password in the store URI" rule reads the URI as libpq does, and log lines show
/// a URI without its password.
final class StoreLocationTests: XCTestCase {
    let withPassword = [
        "postgresql://user:secret@db.example.org/emailotp",
        "postgresql://user:Qq?secret-42@127.0.0.1:5432/emailotp",
        "postgres://u:%41@db/emailotp",
        "postgresql://db/emailotp?password=x",
        "postgresql://db/emailotp?sslmode=disable&%70assword=x",
    ]
    let without = [
        "postgresql://user@db.example.org/emailotp?sslmode=verify-full",
        "postgresql://db1:5432,db2:5433/emailotp?target_session_attrs=read-write",
        "postgresql:///emailotp?host=/run/postgresql",
        "postgresql://user@db/emailotp?application_name=a:b@c",
    ]

    func testTheRuleFindsEveryPasswordLibpqFinds() throws {
        for uri in withPassword {
            XCTAssertTrue(StoreLocation.holdsPassword(uri), uri)
            XCTAssertTrue(StoreLocation.holdsPasswordByRule(uri), uri)
            XCTAssertThrowsError(try StoreLocation.validate(uri), uri)
        }
        for uri in without {
            XCTAssertFalse(StoreLocation.holdsPassword(uri), uri)
            XCTAssertFalse(StoreLocation.holdsPasswordByRule(uri), uri)
            XCTAssertEqual(try StoreLocation.validate(uri), uri)
        }
    }

    func testALoggedURIShowsNoPassword() {
        XCTAssertEqual(StoreLocation.shown("postgresql://user:Qq?secret-42@127.0.0.1:5432/emailotp"),
                       "postgresql://user:***@127.0.0.1:5432/emailotp")
        XCTAssertEqual(StoreLocation.shown("postgresql://db/emailotp?sslmode=disable&password=x&a=b"),
                       "postgresql://db/emailotp?sslmode=disable&password=***&a=b")
        for uri in without { XCTAssertEqual(StoreLocation.shown(uri), uri) }
        XCTAssertEqual(StoreLocation.shown("/var/lib/emailotp"), "/var/lib/emailotp")
    }
}
