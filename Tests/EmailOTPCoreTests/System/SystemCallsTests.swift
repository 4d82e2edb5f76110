import Glibc
import XCTest
@testable import EmailOTPSystem

/// System/: the C strings handed to a C library for one scope, and the wait on a descriptor
/// another library drives (PostgreSQL's connection uses both).
final class SystemCallsTests: XCTestCase {
    func testCStringsAreNulTerminatedAndTheListEndsWithNull() {
        let seen: [String?] = CMemory.withCStrings(["connect_timeout", "", "pässword"]) { list in
            (0..<4).map { index in list[index].map { String(cString: $0) } }
        }
        XCTAssertEqual(seen, ["connect_timeout", "", "pässword", nil])
    }

    func testNoCStringsIsAListHoldingOnlyNull() {
        XCTAssertNil(CMemory.withCStrings([]) { $0[0] })
    }

    func testATextWithANulEndsThere() {
        XCTAssertEqual(CMemory.withCStrings(["a\u{0}b"]) { $0[0].map { String(cString: $0) } }, "a")
    }

    func testAThrowingBodyIsPassedOn() {
        struct Stop: Error {}
        XCTAssertThrowsError(try CMemory.withCStrings(["x"]) { _ in throw Stop() }) { XCTAssertTrue($0 is Stop) }
    }

    func testWaitEndsAtTheDeadlineThenWhenReady() throws {
        let (reader, writer) = try ChildIO.pipe()
        defer {
            reader.closeNow()
            writer.closeNow()
        }
        XCTAssertFalse(try Readiness.wait(reader.raw, for: .readable, until: Deadline(afterMilliseconds: 0), what: "pipe"))
        XCTAssertTrue(try Readiness.wait(writer.raw, for: .writable, until: Deadline(afterMilliseconds: 0), what: "pipe"))
        XCTAssertTrue(ChildIO.writeAll(writer.raw, [1], until: Deadline(afterSeconds: 5)))
        XCTAssertTrue(try Readiness.wait(reader.raw, for: [.readable, .writable], until: Deadline(afterSeconds: 5), what: "pipe"))
    }

    func testAClosedDescriptorCountsAsReadySoThatTheNextCallTells() {
        // poll(2) answers POLLNVAL for it at once: no wait until the deadline.
        XCTAssertEqual(try Readiness.wait(Int32.max, for: .readable, until: Deadline(afterSeconds: 60), what: "x"), true)
    }
}
