import Glibc
import XCTest
@testable import EmailOTPSystem

/// TimeFormat without Foundation or the process locale; the zone is set for each test.
final class TimeFormatTests: XCTestCase {
    var savedTZ: String?

    override func setUp() {
        savedTZ = getenv("TZ").map { String(cString: $0) }
    }

    override func tearDown() {
        if let zone = savedTZ { setenv("TZ", zone, 1) } else { unsetenv("TZ") }
        tzset()
    }

    func inZone(_ zone: String) {
        setenv("TZ", zone, 1)
        tzset()
    }

    func testISO8601IsUTCWhateverTheZone() {
        inZone("CET-1")
        XCTAssertEqual(TimeFormat.iso8601(1_764_230_000), "2025-11-27T07:53:20Z")
        XCTAssertEqual(TimeFormat.iso8601(0), "1970-01-01T00:00:00Z")
        XCTAssertEqual(TimeFormat.iso8601(951_782_400), "2000-02-29T00:00:00Z")
    }

    func testRFC5322CarriesTheOffset() {
        inZone("UTC0")
        XCTAssertEqual(TimeFormat.rfc5322(1_764_230_000), "Thu, 27 Nov 2025 07:53:20 +0000")
        inZone("CET-1")
        XCTAssertEqual(TimeFormat.rfc5322(1_764_230_000), "Thu, 27 Nov 2025 08:53:20 +0100")
        inZone("XYZ+5:30")
        XCTAssertEqual(TimeFormat.rfc5322(1_764_230_000), "Thu, 27 Nov 2025 02:23:20 -0530")
    }

    func testLocalFormsNameTheZone() {
        inZone("UTC0")
        XCTAssertEqual(TimeFormat.local(1_764_230_000), "2025-11-27 07:53:20 UTC")
        XCTAssertEqual(TimeFormat.localClock(1_764_230_000), "07:53")
        inZone("CET-1")
        XCTAssertEqual(TimeFormat.local(1_764_230_000), "2025-11-27 08:53:20 CET")
    }

    func testDurations() {
        XCTAssertEqual(TimeFormat.duration(60), "1 minute")
        XCTAssertEqual(TimeFormat.duration(300), "5 minutes")
        XCTAssertEqual(TimeFormat.duration(90), "90 seconds")
        XCTAssertEqual(TimeFormat.duration(1), "1 second")
        XCTAssertEqual(TimeFormat.duration(0), "0 minutes")
    }
}
