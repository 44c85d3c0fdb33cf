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

    @Test(
        "outside development, a known development secret, a short key or a placeholder stops the start",
        arguments: [
            (["SERVICE_SECRET": "dev-service-secret-change-me"], "SERVICE_SECRET holds a development value or a placeholder"),
            (["SERVICE_SECRET": "a-real-looking-but-short-secret"], "SERVICE_SECRET must be at least 32 bytes long"),
            (["ADMIN_API_KEY": "replace-me"], "ADMIN_API_KEY holds a development value or a placeholder"),
            (["ADMIN_API_KEY": "x9Qv2LmTz8Rk"], "ADMIN_API_KEY must be at least 32 bytes long"),
            (["CUSTOMER_API_KEYS": "alice:alice-dev-key"], "CUSTOMER_API_KEYS holds a development value or a placeholder"),
            (["SAGAMART_ENV": "staging"], "SAGAMART_ENV must be development or production"),
        ]
    )
    func productionRefusesWeakSecrets(_ settings: [String: String], _ message: String) async throws {
        var environment = [
            "PATH": "/usr/bin:/bin", "SERVICE_SECRET": "Hq4sV9pXw2LrT7mNc5KzB8dYf3GjA6eU",
            "ADMIN_API_KEY": "Zt7Rk2Wq9Xm4Lp8Vn3Hs6Jd5Fb1Gc0Ya",
            "DATABASE_URL": "sqlite://\(temporaryDirectory())/gateway.db",
            "ENCRYPTION_KEYS": "k1:" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
            "INDEX_KEY": Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
        ]
        environment.merge(settings) { _, new in new }
        let process = try ChildProcess(productsDirectory + "/gateway", environment: environment)
        #expect(await process.wait() == 78)
        #expect(process.output.contains("gateway: configuration error: \(message)"), "\(process.output)")
    }

    @Test func anUnknownSubcommandPrintsTheUsage() async throws {
        let process = try ChildProcess(productsDirectory + "/order", ["rebuild-everything"], environment: [:])
        #expect(await process.wait() == 64)
        #expect(process.output.contains("usage: order [rebuild-projections | move-bucket <bucket> <shard>]"))
    }
}
