import Crypto
import Foundation
import HTTP
import Platform
import TestSupport
import Testing

/// How the executables start when their configuration is wrong: one clear line and a status, no crash report.
@Suite("Service start-up")
struct StartupTests {
    @Test(arguments: SagaMartSystem.services)
    func aMissingSecretEndsTheStartWithStatus78(_ service: String) async throws {
        let process = try ChildProcess(productsDirectory + "/" + service, environment: ["PATH": "/usr/bin:/bin"])
        #expect(await process.wait() == 78)
        #expect(process.output.contains("\(service): configuration error: SERVICE_SIGNING_KEY is required but not set"))
        #expect(!process.output.contains("Fatal error"))
    }

    @Test(
        "outside development, a known development secret, a short key or a placeholder stops the start",
        arguments: [
            (["SERVICE_SIGNING_KEY": "replace-me"], "SERVICE_SIGNING_KEY must be a 32-byte Ed25519 private key in base64"),
            (["SERVICE_SIGNING_KEY": StartupTests.developmentGatewayKey], "SERVICE_SIGNING_KEY holds a development key"),
            (["SERVICE_KEYS": "replace-me"], "SERVICE_KEYS must be a comma-separated list of service:base64-public-key"),
            (["ADMIN_API_KEY": "replace-me"], "ADMIN_API_KEY holds a development value or a placeholder"),
            (["ADMIN_API_KEY": "x9Qv2LmTz8Rk"], "ADMIN_API_KEY must be at least 32 bytes long"),
            (["CUSTOMER_API_KEYS": "alice:alice-dev-key"], "CUSTOMER_API_KEYS holds a development value or a placeholder"),
            (["SAGAMART_ENV": "staging"], "SAGAMART_ENV must be development or production"),
        ]
    )
    func productionRefusesWeakSecrets(_ settings: [String: String], _ message: String) async throws {
        var environment = try await offPool { try Self.productionKeys() }
        environment.merge([
            "PATH": "/usr/bin:/bin",
            "ADMIN_API_KEY": "Zt7Rk2Wq9Xm4Lp8Vn3Hs6Jd5Fb1Gc0Ya",
            "DATABASE_URL": "sqlite://\(temporaryDirectory())/gateway.db",
            "ENCRYPTION_KEYS": "k1:" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
            "INDEX_KEY": Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
        ]) { _, new in new }
        environment.merge(settings) { _, new in new }
        let process = try ChildProcess(productsDirectory + "/gateway", environment: environment)
        #expect(await process.wait() == 78)
        #expect(process.output.contains("gateway: configuration error: \(message)"), "\(process.output)")
    }

    /// The gateway's development signing key (what `ServiceAuthenticator.development` derives).
    static let developmentGatewayKey = Data(SHA256.hash(data: Data("sagamart development signing key for gateway".utf8)))
        .base64EncodedString()

    /// A production set of credentials for the gateway, made by `scripts/service-keys.sh` as an operator would.
    static func productionKeys() throws -> [String: String] {
        let output = try run("/bin/bash", [FileManager.default.currentDirectoryPath + "/scripts/service-keys.sh"])
        var keys: [String: String] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            if parts[0] == "GATEWAY_SIGNING_KEY" { keys["SERVICE_SIGNING_KEY"] = parts[1] }
            if parts[0] == "SERVICE_KEYS" { keys["SERVICE_KEYS"] = parts[1] }
        }
        return keys
    }

    @Test("with keys made by scripts/service-keys.sh and no development value, a production gateway starts and serves")
    func productionStartsWithRealKeys() async throws {
        let port = try freePort()
        var environment = try await offPool { try Self.productionKeys() }
        environment.merge([
            "PATH": "/usr/bin:/bin", "PORT": "\(port)", "ADMIN_API_KEY": "Zt7Rk2Wq9Xm4Lp8Vn3Hs6Jd5Fb1Gc0Ya",
            "DATABASE_URL": "sqlite://\(temporaryDirectory())/gateway.db",
            "ENCRYPTION_KEYS": "k1:" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
            "INDEX_KEY": Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
        ]) { _, new in new }
        let process = try ChildProcess(productsDirectory + "/gateway", environment: environment)
        #expect(try await Self.becomesLive(port: port), "\(process.output)")
        process.signal(SIGKILL)
    }

    /// `EVENT_LOOPS` sets how many event loop threads a service runs (the launcher gives each service one);
    /// a count outside 1 to 64 stops the start.
    @Test(arguments: [1, 3])
    func eventLoopsSetsTheLoopThreads(_ loops: Int) async throws {
        let port = try freePort()
        let environment = [
            "PATH": "/usr/bin:/bin", "PORT": "\(port)", "SAGAMART_ENV": "development", "EVENT_LOOPS": "\(loops)",
            "DATABASE_URL": "sqlite://\(temporaryDirectory())/shipping.db",
        ]
        let process = try ChildProcess(productsDirectory + "/shipping", environment: environment)
        defer { process.signal(SIGKILL) }
        #expect(try await Self.becomesLive(port: port), "\(process.output)")
        let threads = try Self.threads(of: process.pid).map(\.name)
        #expect(threads.filter { $0.hasPrefix("http-") }.count == loops, "\(threads)")
    }

    @Test(arguments: ["0", "65", "two"])
    func eventLoopsOutsideOneToSixtyFourStopsTheStart(_ value: String) async throws {
        let environment = [
            "PATH": "/usr/bin:/bin", "SAGAMART_ENV": "development", "EVENT_LOOPS": value,
            "DATABASE_URL": "sqlite://\(temporaryDirectory())/shipping.db",
        ]
        let process = try ChildProcess(productsDirectory + "/shipping", environment: environment)
        #expect(await process.wait() == 78)
        let expected = value == "two" ? "EVENT_LOOPS must be an integer" : "EVENT_LOOPS must be from 1 to 64"
        #expect(process.output.contains("shipping: configuration error: \(expected)"), "\(process.output)")
    }

    /// Every thread of a service has `CPU_SCHEDULING`'s policy, `SCHED_BATCH` unless it says `normal`:
    /// `ProcessEntry` sets it on the main thread before any other starts, and the others inherit it. Each
    /// service is started from a thread of the other policy (`normal` under `chrt --batch`), so a setting that
    /// was not applied shows as the parent's policy.
    @Test(arguments: [nil, "batch", "normal"] as [String?])
    func everyThreadHasTheCPUSchedulingPolicy(_ setting: String?) async throws {
        let port = try freePort()
        var environment = [
            "PATH": "/usr/bin:/bin", "PORT": "\(port)", "SAGAMART_ENV": "development",
            "DATABASE_URL": "sqlite://\(temporaryDirectory())/shipping.db",
        ]
        if let setting { environment[CPUScheduling.variable] = setting }
        let expected: CPUScheduling = setting == "normal" ? .normal : .batch
        let shipping = productsDirectory + "/shipping"
        let process =
            expected == .normal
            ? try ChildProcess("/usr/bin/chrt", ["--batch", "0", shipping], environment: environment)
            : try ChildProcess(shipping, environment: environment)
        defer { process.signal(SIGKILL) }
        #expect(try await Self.becomesLive(port: port), "\(process.output)")
        let threads = try Self.threads(of: process.pid).compactMap { thread -> (String, CPUScheduling?)? in
            let policy = CPUScheduling.of(thread: thread.tid)
            // Gone since the listing (an idle pool thread ending): nothing to check.
            guard policy != nil || FileManager.default.fileExists(atPath: "/proc/\(process.pid)/task/\(thread.tid)") else { return nil }
            return (thread.name, policy)
        }
        // The main thread, the event loop, the SQLite writer, readers and checkpointer, the pool's threads.
        #expect(threads.contains { $0.0 == "http-0" } && threads.contains { $0.0 == "sqlite-writer-0" }, "\(threads)")
        #expect(threads.allSatisfy { $0.1 == expected }, "\(threads)")
    }

    @Test func anUnknownCPUSchedulingStopsTheStart() async throws {
        let environment = [
            "PATH": "/usr/bin:/bin", "SAGAMART_ENV": "development", "CPU_SCHEDULING": "fifo",
            "DATABASE_URL": "sqlite://\(temporaryDirectory())/shipping.db",
        ]
        let process = try ChildProcess(productsDirectory + "/shipping", environment: environment)
        #expect(await process.wait() == 78)
        #expect(process.output.contains("shipping: configuration error: CPU_SCHEDULING must be batch or normal"), "\(process.output)")
    }

    /// The threads of process `pid` with their names (`/proc/<pid>/task`). A thread that ends while they are
    /// read (an idle pool thread) is left out.
    static func threads(of pid: pid_t) throws -> [(tid: pid_t, name: String)] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").compactMap { entry in
            guard let tid = pid_t(entry),
                let name = try? String(contentsOfFile: "/proc/\(pid)/task/\(entry)/comm", encoding: .utf8)
            else { return nil }
            return (tid, name.trimmingCharacters(in: .newlines))
        }
    }

    /// Whether the service on `port` answers `/health/live` within five seconds.
    static func becomesLive(port: Int) async throws -> Bool {
        let client = HTTPClient()
        for _ in 0..<200 {
            if (try? await client.get("http://127.0.0.1:\(port)/health/live").status.code) == 200 { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return false
    }

    @Test func anUnknownSubcommandPrintsTheUsage() async throws {
        let process = try ChildProcess(productsDirectory + "/order", ["rebuild-everything"], environment: [:])
        #expect(await process.wait() == 64)
        #expect(process.output.contains("Unexpected argument 'rebuild-everything'"), "\(process.output)")
        #expect(process.output.contains("Usage: order serve"), "\(process.output)")
    }
}
