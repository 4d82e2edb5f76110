import XCTest
@testable import EmailOTPConfig
@testable import EmailOTPCore
@testable import EmailOTPFlows

/// The composition of a PAM login: the fail delay it asks for.
final class PAMLoginTests: XCTestCase {
    func testFailDelayOnlyAfterRealFailures() {
        var config = Config()
        config.failDelay = 3
        XCTAssertEqual(PAMLogin.failDelay(after: .authError, openedChallenge: false, config: config), 3)
        XCTAssertEqual(PAMLogin.failDelay(after: .unavailable, openedChallenge: false, config: config), 3)
        XCTAssertEqual(PAMLogin.failDelay(after: .authError, openedChallenge: true, config: config), 0, "first step of challenge mode")
        XCTAssertEqual(PAMLogin.failDelay(after: .success, openedChallenge: false, config: config), 0)
        XCTAssertEqual(PAMLogin.failDelay(after: .ignore, openedChallenge: false, config: config), 0)
    }
}
