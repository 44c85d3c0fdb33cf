import Foundation
import TestSupport
import Testing

/// `scripts/test-phase.sh`, the time limit on each phase of `make test`: a hung phase is stopped, the tests
/// it left running are named in its last line, and it is run once more; a phase that fails is not.
@Suite("make test's phase limit")
struct TestPhaseScriptTests {
    /// Runs `script` (bash) as a phase with a 3 s limit; its exit code and everything the phase printed.
    func phase(_ script: String, report: String) async throws -> (code: Int32?, output: String) {
        let process = try ChildProcess(
            "/bin/bash",
            ["\(DeployFilesTests.repository)/scripts/test-phase.sh", "3", "/bin/bash", "-c", script],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "TEST_PHASE_REPORT": report]
        )
        let code = await process.wait(timeout: .seconds(60))
        return (code, process.output)
    }

    static let started =
        #"echo "◇ Test stuck() started."; echo "◇ Test quick() started."; "#
        + #"echo "✔ Test quick() passed after 0.1 seconds."; "#

    @Test func aHungPhaseNamesItsTestsLastAndFailsAfterOneMoreRun() async throws {
        let report = temporaryDirectory() + "/hangs.txt"
        let result = try await phase(Self.started + "exec sleep 600", report: report)
        #expect(result.code == 124, "\(result.output)")
        #expect(result.output.split(separator: "\n").last == "test-phase: tests started and not ended: stuck()", "\(result.output)")
        #expect(result.output.components(separatedBy: "test-phase: HUNG after 3s").count == 3, "the run and the one more both hung")
        let kept = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
        #expect(kept.contains("tests started and not ended: stuck()"), "\(kept)")
    }

    @Test func aPhaseThatHangsOnceAndThenPassesSucceedsAndIsReportedAtTheEnd() async throws {
        let directory = temporaryDirectory()
        let report = directory + "/hangs.txt"
        let once = directory + "/hung-once"
        let result = try await phase(Self.started + "if [[ ! -e \(once) ]]; then touch \(once); exec sleep 600; fi", report: report)
        #expect(result.code == 0, "\(result.output)")
        #expect(result.output.contains("running '/bin/bash -c"), "\(result.output)")
        let end = try ChildProcess(
            "/bin/bash",
            ["\(DeployFilesTests.repository)/scripts/test-phase.sh", "--report"],
            environment: ["PATH": "/usr/bin:/bin", "TEST_PHASE_REPORT": report]
        )
        #expect(await end.wait(timeout: .seconds(30)) == 0)
        #expect(end.output.contains("passed when run again"), "\(end.output)")
        #expect(end.output.contains("tests started and not ended: stuck()"), "\(end.output)")
    }

    @Test func aFailingPhaseIsNotRunAgain() async throws {
        let directory = temporaryDirectory()
        let runs = directory + "/runs"
        let result = try await phase("echo run >> \(runs); exit 3", report: directory + "/hangs.txt")
        #expect(result.code == 3, "\(result.output)")
        #expect((try? String(contentsOfFile: runs, encoding: .utf8)) == "run\n")
        #expect(!FileManager.default.fileExists(atPath: directory + "/hangs.txt"))
    }
}
