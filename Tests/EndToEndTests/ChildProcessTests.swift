import Foundation
import TestSupport
import Testing

/// The harness's handle on a started program: it alone reaps it, and keeps what it reaped.
@Suite("Child processes of the test harness")
struct ChildProcessTests {
    /// Asking whether a process runs reaps it once it has exited; its exit code is kept, so a later wait
    /// answers at once and a later signal goes nowhere. Before, `isRunning` reaped it and dropped the code:
    /// the wait then ran out its 15 s and answered nil, and the kill that followed went to a pid the system
    /// was free to give another process.
    @Test func anExitedProcessIsReapedOnceAndItsCodeKept() async throws {
        let process = try ChildProcess("/bin/sh", ["-c", "exit 7"], environment: [:])
        var polls = 0
        while process.isRunning {
            polls += 1
            try #require(polls < 3_000, "sh did not exit")
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(process.poll() == 7)
        process.signal(SIGKILL)
        #expect(await process.wait(timeout: .zero) == 7)
    }

    @Test func aKilledProcessReportsTheSignal() async throws {
        let process = try ChildProcess("/bin/sleep", ["60"], environment: [:])
        #expect(process.isRunning)
        process.signal(SIGKILL)
        #expect(await process.wait() == 128 + SIGKILL)
        #expect(!process.isRunning)
    }
}
