import Foundation
import TestSupport
import Testing

/// How the executables start when their configuration is wrong: one clear line and a status, no crash report.
@Suite("Service start-up")
struct StartupTests {
    @Test(arguments: SagaMartSystem.services)
    func aMissingSecretEndsTheStartWithStatus78(_ service: String) async throws {
        let process = try ChildProcess(productsDirectory + "/" + service, environment: ["PATH": "/usr/bin:/bin"])
        #expect(await process.wait() == 78)
        #expect(process.output.contains("\(service): configuration error: SERVICE_SECRET is required but not set"))
        #expect(!process.output.contains("Fatal error"))
    }

    @Test func anUnknownSubcommandPrintsTheUsage() async throws {
        let process = try ChildProcess(productsDirectory + "/order", ["rebuild-everything"], environment: [:])
        #expect(await process.wait() == 64)
        #expect(process.output.contains("usage: order [rebuild-projections | move-bucket <bucket> <shard>]"))
    }
}
