import XCTest
@testable import EmailOTPCrypto
@testable import EmailOTPFlows
@testable import EmailOTPToken

/// `auth_cache` (pam_emailotp(8), Challenge mode): a granted PIN + code keeps granting for the same user, service and
/// remote host until `auth_cache` seconds after the first grant; only a keyed hash is stored.
final class AuthCacheTests: FlowTestCase {
    func authenticator(service: String = "imap", rhost: String = "192.0.2.7") -> Authenticator {
        Authenticator(config: config, pinMode: .token, store: store, clock: clock, random: random,
                      mailer: mailer, logger: logger,
                      context: RequestContext(service: service, rhost: rhost, host: "host.example.org"))
    }

    func step(_ password: String, service: String = "imap", rhost: String = "192.0.2.7") -> AuthResult {
        ChallengeFlow(authenticator(service: service, rhost: rhost)).step(user: "alice", password: password, nullok: false).status
    }

    /// Enrols alice, triggers, grants PIN + code once; returns that password.
    func grantedPassword(service: String = "imap", rhost: String = "192.0.2.7") throws -> String {
        try enroll()
        XCTAssertEqual(step(Self.pin, service: service, rhost: rhost), .authError)
        let password = Self.pin + (try XCTUnwrap(lastCode))
        XCTAssertEqual(step(password, service: service, rhost: rhost), .success)
        return password
    }

    func testTheSamePasswordIsGrantedAgainUntilAuthCacheSecondsAfterTheFirstGrant() throws {
        config.authCache = 600
        let password = try grantedPassword()
        clock.advance(1)
        XCTAssertEqual(step(password), .success)
        XCTAssertEqual(step(password), .success)
        clock.advance(598)                      // 599 s after the first grant: still inside
        XCTAssertEqual(step(password), .success)
        clock.advance(1)                        // 600 s: the cache has run out
        XCTAssertEqual(step(password), .authError)
        XCTAssertEqual(mailer.sent.count, 1, "a cached grant sends no mail")
        XCTAssertTrue(logger.text.contains("granted from auth_cache"), logger.text)
    }

    func testReUseDoesNotStretchTheCache() throws {
        config.authCache = 100
        let password = try grantedPassword()
        for _ in 0..<9 {
            clock.advance(10)
            XCTAssertEqual(step(password), .success)
        }
        clock.advance(10)
        XCTAssertEqual(step(password), .authError)
        XCTAssertEqual(try record()?.cachedGrants.count, 0, "the expired entry is dropped")
    }

    func testALowerSettingShortensTheGrantsAlreadyMadeAtOnce() throws {
        config.authCache = 600
        let password = try grantedPassword()
        clock.advance(64)
        config.authCache = 5
        XCTAssertEqual(step(password), .authError, "granted 64 s ago, auth_cache is 5 s now")
        XCTAssertEqual(try record()?.cachedGrants, [], "the grant is dropped, not kept for a higher setting")
    }

    func testAHigherSettingDoesNotStretchAGrant() throws {
        config.authCache = 100
        let password = try grantedPassword()
        config.authCache = 600
        clock.advance(100)
        XCTAssertEqual(step(password), .authError)
    }

    func testAGrantWithoutARemoteHostIsMarked() throws {
        config.authCache = 600
        _ = try grantedPassword(rhost: "")
        let grant = try XCTUnwrap(record()?.cachedGrants.first)
        XCTAssertTrue(grant.withoutRemoteHost)
        XCTAssertTrue(RecordFormat.render(try XCTUnwrap(record())).contains(" norhost\n"))
        try store.update(user: "alice") { $0?.cachedGrants = [] }
        XCTAssertEqual(step(Self.pin), .authError)
        XCTAssertEqual(step(Self.pin + (try XCTUnwrap(lastCode)), rhost: "192.0.2.7"), .success)
        XCTAssertEqual(try record()?.cachedGrants.first?.withoutRemoteHost, false)
    }

    func testAnAuthCacheLineReadsWithAndWithoutTheNoRemoteHostMark() throws {
        let hash = String(repeating: "ab", count: 32)
        XCTAssertEqual(try CachedGrant.parse("\(hash) 10 20", line: 1), CachedGrant(hash: hash, granted: 10, expires: 20))
        XCTAssertEqual(try CachedGrant.parse("\(hash) 10 20 norhost", line: 1),
                       CachedGrant(hash: hash, granted: 10, expires: 20, withoutRemoteHost: true))
        XCTAssertThrowsError(try CachedGrant.parse("\(hash) 10 20 other", line: 1))
        XCTAssertThrowsError(try CachedGrant.parse("\(hash) 10 20 norhost x", line: 1))
    }

    func testOffByDefault() throws {
        XCTAssertEqual(config.authCache, 0)
        let password = try grantedPassword()
        XCTAssertEqual(step(password), .authError)
        XCTAssertEqual(try record()?.cachedGrants, [])
    }

    func testAnotherServiceIsNotGranted() throws {
        config.authCache = 600
        let password = try grantedPassword(service: "imap")
        XCTAssertEqual(step(password, service: "openvpn"), .authError)
        XCTAssertEqual(step(password, service: "imap"), .success)
    }

    func testAnotherRemoteHostIsNotGranted() throws {
        config.authCache = 600
        let password = try grantedPassword(rhost: "192.0.2.7")
        XCTAssertEqual(step(password, rhost: "198.51.100.1"), .authError)
        XCTAssertEqual(step(password, rhost: ""), .authError)
        XCTAssertEqual(step(password, rhost: "192.0.2.7"), .success)
    }

    func testAWrongPasswordNeverMatchesAndCountsAsUsual() throws {
        config.authCache = 600
        let password = try grantedPassword()
        let code = String(password.suffix(6))
        XCTAssertEqual(step(Self.pin + otherCode(code)), .authError)
        XCTAssertEqual(step("x" + password), .authError)
        XCTAssertEqual(try record()?.failCount, 2, "the wrong PIN counts, once per PIN candidate (before the code, the whole); "
                       + "PIN + code without a challenge does not")
        XCTAssertEqual(step(password), .success, "and the cache still grants the right one")
        XCTAssertEqual(try record()?.failCount, 0)
    }

    func testAGrantWithARecoveryCodeIsNeverCached() throws {
        config.authCache = 600
        try enroll()
        let hash = try RecoveryCode.hash("abcde-12345", random: OpenSSLRandom())
        try store.update(user: "alice") { $0?.recoveryHashes = [hash] }
        XCTAssertEqual(step(Self.pin + "abcde-12345"), .success)
        XCTAssertEqual(try record()?.cachedGrants, [])
        XCTAssertEqual(step(Self.pin + "abcde-12345"), .authError, "single use, cache or not")
    }

    func testForgetDropsTheCache() throws {
        config.authCache = 600
        let password = try grantedPassword()
        try store.update(user: "alice") { $0?.cachedGrants = [] }
        XCTAssertEqual(step(password), .authError)
    }

    func testALockedOrDisabledTokenIsNotGrantedFromTheCache() throws {
        config.authCache = 600
        config.maxFail = 1
        config.unlockTime = 0
        let password = try grantedPassword()
        XCTAssertEqual(step("wrong-" + Self.pin), .authError)
        XCTAssertEqual(try record()?.isLocked, true)
        XCTAssertEqual(step(password), .authError)
        try store.update(user: "alice") { $0?.lockedAt = 0; $0?.failCount = 0; $0?.enabled = false }
        XCTAssertEqual(step(password), .authError)
    }

    func testOnlyAKeyedHashIsStored() throws {
        config.authCache = 600
        let password = try grantedPassword()
        let text = RecordFormat.render(try XCTUnwrap(record()))
        XCTAssertFalse(text.contains(password))
        XCTAssertFalse(text.contains(String(password.suffix(6))))
        let grant = try XCTUnwrap(record()?.cachedGrants.first)
        XCTAssertEqual(grant.granted, clock.now())
        XCTAssertEqual(grant.expires, clock.now() + 600)
        let expected = try GrantHasher(key: store.codeKey()).hash(user: "alice", service: "imap", rhost: "192.0.2.7", password: password)
        XCTAssertEqual(grant.hash, expected)
        XCTAssertNotEqual(try GrantHasher(key: Array(repeating: 1, count: 32)).hash(user: "alice", service: "imap", rhost: "192.0.2.7", password: password), expected)
    }

    func testRecordLinesRoundTripAndBadOnesAreRefused() throws {
        var r = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        r.cachedGrants = [CachedGrant(hash: String(repeating: "ab", count: 32), granted: 100, expires: 700)]
        let text = RecordFormat.render(r)
        XCTAssertTrue(text.contains("\nauth_cache \(String(repeating: "ab", count: 32)) 100 700\n"), text)
        XCTAssertEqual(try RecordFormat.parse(text, expectedUser: "alice"), r)
        for bad in ["auth_cache xyz 1 2", "auth_cache \(String(repeating: "ab", count: 32)) 1",
                    "auth_cache \(String(repeating: "ab", count: 32)) -1 2", "auth_cache \(String(repeating: "ab", count: 32)) 1 2 3"] {
            let broken = text.replacingFirst("auth_cache \(String(repeating: "ab", count: 32)) 100 700", with: bad)
            XCTAssertThrowsError(try RecordFormat.parse(broken, expectedUser: "alice"), bad)
        }
    }

    func testAtMostTwentyGrantsAreKept() {
        var r = TokenRecord(user: "alice", email: "alice@example.com", pinHash: nil)
        for index in 0..<25 {
            let hex = String(index, radix: 16)
            r.rememberGrant(String(repeating: "0", count: 64 - hex.count) + hex, at: Int64(index), lifetime: 1000)
        }
        XCTAssertEqual(r.cachedGrants.count, TokenRecord.maxCachedGrants)
        XCTAssertEqual(r.cachedGrants.map(\.granted), Array(5...24).map(Int64.init), "the oldest went first")
    }
}

private extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
