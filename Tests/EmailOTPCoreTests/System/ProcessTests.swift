import Glibc
import XCTest
@testable import EmailOTPSystem

/// System/Process: the one spawn of the project, its deadline wait and status decoding.
final class ProcessTests: XCTestCase {
    func run(_ script: String, deadline: Deadline = Deadline(afterSeconds: 10)) throws -> (ChildStatus, [UInt8]) {
        let (reader, writer) = try ChildIO.pipe()
        return try keepingChildStatus {
            let child = try ChildProcess.spawn("/bin/sh", arguments: ["-c", script], environment: ["PATH=/usr/bin:/bin"],
                                               stdout: writer.raw)
            writer.closeNow()
            let output = ChildIO.readAll(reader.raw, limit: 4096, until: deadline)
            return (child.wait(until: deadline), output.bytes)
        }
    }

    func testStatusesAreDecoded() throws {
        XCTAssertEqual(try run("exit 0").0, .exited(0))
        XCTAssertEqual(try run("exit 3").0, .exited(3))
        XCTAssertEqual(try run("kill -TERM $$").0, .signaled(SIGTERM))
        XCTAssertEqual(try run("exec /nonexistent/program").0, .exited(127))
    }

    func testChildGetsOnlyItsEnvironmentAndNoInheritedDescriptors() throws {
        let (_, output) = try run("env; ls /proc/self/fd | wc -l")
        let text = String(decoding: output, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("PATH=/usr/bin:/bin\n"), text)
        XCTAssertFalse(text.contains("HOME="), text)
        // 0, 1, 2 and the descriptor ls itself opens
        XCTAssertEqual(text.split(separator: "\n").last, "4")
    }

    func testSignalsAreResetAndTheChildHasItsOwnSession() throws {
        let old = signal(SIGTERM, SIG_IGN)
        defer { signal(SIGTERM, old) }
        // From /proc (fields 6, 5 and 1 of stat: session, group, pid), not ps: a minimal system has no procps.
        let (status, output) = try run("read -r stat < /proc/$$/stat; set -- $stat; echo \"$6 $5 $1\"; kill -TERM $$; exit 0")
        XCTAssertEqual(status, .signaled(SIGTERM), "an ignored signal in the parent is at its default in the child")
        let ids = String(decoding: output, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertEqual(Set(ids).count, 1, "session id = group id = pid: \(ids)")
    }

    func testDeadlineKillsTheGroup() throws {
        let started = Monotonic.milliseconds()
        let (status, _) = try run("sleep 30 & sleep 30", deadline: Deadline(afterMilliseconds: 200))
        XCTAssertEqual(status, .timedOut)
        XCTAssertLessThan(Monotonic.milliseconds() - started, 10_000)
    }

    /// With SIGCHLD ignored the kernel would reap the child itself; keepingChildStatus keeps its status.
    func testChildStatusSurvivesAnIgnoredSIGCHLD() throws {
        let old = signal(SIGCHLD, SIG_IGN)
        defer { signal(SIGCHLD, old) }
        XCTAssertEqual(try run("exit 5").0, .exited(5))
    }

    /// The clean process is root in every id with no supplementary group; what else the caller
    /// chose (limits here) the helper resets on itself, once (CShim/helper/start.c;
    /// hostile/test_helper_callers.py reads it from /proc).
    func testCleanRootIsRootInEveryIdAndLeavesTheLimitsToTheHelper() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root") }
        var old = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        var low = rlimit(rlim_cur: 512 * 1024, rlim_max: old.rlim_max)
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &low)
        defer { setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old) }
        let (reader, writer) = try ChildIO.pipe()
        let status: ChildStatus = try keepingChildStatus {
            let child = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "ulimit -f; id -G"], environment: [],
                                               stdout: writer.raw, as: .cleanRoot)
            writer.closeNow()
            let output = String(decoding: ChildIO.readAll(reader.raw, limit: 4096, until: Deadline(afterSeconds: 10)).bytes, as: UTF8.self)
            XCTAssertEqual(output, "1024\n0\n")
            return child.wait(until: Deadline(afterSeconds: 10))
        }
        XCTAssertEqual(status, .exited(0))
    }
}
