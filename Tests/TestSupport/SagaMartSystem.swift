import Foundation
import HTTP
import Synchronization

/// Where the services keep their data in a test run.
public enum Layout: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Every service on its own SQLite file (`make run`).
    case sqlite
    /// The docker-compose layout: inventory, order and saga on PostgreSQL (one database and one role each,
    /// as compose makes them, in the test harness's throwaway cluster), payment, shipping and gateway on SQLite.
    case compose
    /// Every service on PostgreSQL, each with its own database and role.
    case postgres

    public var description: String { rawValue }

    /// The layouts this machine can run: compose only where PostgreSQL's server binaries are installed.
    public static var available: [Layout] { PostgresCluster.isAvailable ? [.sqlite, .compose] : [.sqlite] }

    /// Every layout this machine can run, the all-PostgreSQL one too.
    public static var everyBackend: [Layout] { PostgresCluster.isAvailable ? allCases : [.sqlite] }

    /// `DATABASE_URL` overrides for this layout (fresh databases each call).
    public func databaseOverrides(cluster: PostgresCluster? = nil) async throws -> [String: [String: String]] {
        let services: [String]
        switch self {
        case .sqlite: return [:]
        case .compose: services = ["inventory", "order", "saga"]
        case .postgres: services = SagaMartSystem.services
        }
        let shared = cluster
        let cluster = try await offPool { try shared ?? PostgresCluster.shared() }
        var overrides: [String: [String: String]] = [:]
        for service in services {
            overrides[service] = ["DATABASE_URL": try await cluster.createDatabase(prefix: service, ownRole: true)]
        }
        return overrides
    }
}

/// The whole system as real processes: the six executables on free ports, each with its own SQLite
/// database in a fresh folder, driven over HTTP through the gateway like a user would.
public final class SagaMartSystem: @unchecked Sendable {
    public static let services = ["gateway", "inventory", "order", "payment", "shipping", "saga"]
    public let directory: String
    public private(set) var ports: [String: Int]
    /// Without circuit breakers: a test sees what the system answers, not what its own client remembers.
    public let client = HTTPClient(configuration: HTTPClientConfiguration(requestTimeout: .seconds(60), breaker: .off))
    private var environments: [String: [String: String]]
    private let lock = NSLock()
    private var processes: [String: ChildProcess] = [:]

    /// Starts every service and waits until each is ready. `overrides` adds settings per service.
    public init(layout: Layout = .sqlite, cluster: PostgresCluster? = nil, overrides: [String: [String: String]] = [:]) async throws {
        var overrides = overrides
        for (service, settings) in try await layout.databaseOverrides(cluster: cluster) {
            overrides[service, default: [:]].merge(settings) { current, _ in current }
        }
        directory = temporaryDirectory()
        var ports: [String: Int] = [:]
        for name in Self.services { ports[name] = try freePort() }
        self.ports = ports
        var environments: [String: [String: String]] = [:]
        for name in Self.services {
            var environment = [
                "PORT": "\(ports[name]!)",
                "DATABASE_URL": "sqlite://\(directory)/\(name).db",
                "SAGAMART_ENV": "development",
                // Tests drive the system like a load test; the limits have tests of their own.
                "RATE_LIMITS": "off",
                // A debug build on a loaded machine is slower than any latency target: a fixed limit (the
                // adaptive one has tests of its own).
                "CHECKOUT_LATENCY_TARGET": "off",
                "ADMIN_API_KEY": "admin-dev-key",
                "CUSTOMER_API_KEYS": "alice:alice-dev-key,bob:bob-dev-key",
                "LOG_LEVEL": "info",
                "SAGA_STEP_DEADLINE": "3s",
                "SAGA_CALL_TIMEOUT": "2s",
                "SAGA_LEASE": "2s",
                "SAGA_CLAIM_INTERVAL": "200ms",
            ]
            for other in Self.services where other != "gateway" {
                environment["\(other.uppercased())_URL"] = "http://127.0.0.1:\(ports[other]!)"
            }
            environment.merge(overrides[name] ?? [:]) { _, new in new }
            environments[name] = environment
        }
        self.environments = environments
        for name in Self.services { try start(name) }
        for name in Self.services { try await waitReady(name) }
    }

    deinit { stopAll() }

    public var gateway: String { "http://127.0.0.1:\(ports["gateway"]!)" }

    public func url(_ service: String) -> String { "http://127.0.0.1:\(ports[service]!)" }

    /// Starts another replica of `service` under `name`, on a port of its own, with the same settings.
    public func startReplica(of service: String, as name: String) async throws {
        var environment = environments[service]!
        let port = try freePort()
        environment["PORT"] = "\(port)"
        environment["SAGA_REPLICA_ID"] = name
        lock.withLock {
            environments[name] = environment
            ports[name] = port
        }
        try start(name, executable: service)
        try await waitReady(name)
    }

    /// The settings a service runs with.
    public func environment(of name: String) -> [String: String] { lock.withLock { environments[name] ?? [:] } }

    /// Changes one setting of a service (nil removes it); it takes effect at the service's next start.
    public func setEnvironment(_ name: String, _ key: String, _ value: String?) {
        lock.withLock { environments[name]?[key] = value }
    }

    /// Runs a service's executable once with arguments (a subcommand such as `order rebuild-projections`)
    /// and the service's settings; returns its exit code and output.
    /// `executable` runs another program with that service's settings (the `audit` command with the saga's,
    /// which name every service's URL), and `extra` adds settings.
    public func runCommand(
        _ name: String,
        _ arguments: [String],
        executable: String? = nil,
        extra: [String: String] = [:],
        timeout: Duration = .seconds(60)
    ) async throws -> (code: Int32?, output: String) {
        let environment = environment(of: name).merging(extra) { _, new in new }
        let process = try ChildProcess(productsDirectory + "/" + (executable ?? name), arguments, environment: environment)
        let code = await process.wait(timeout: timeout)
        return (code, process.output)
    }

    /// Starts (or restarts) one service with its settings.
    public func start(_ name: String, executable: String? = nil) throws {
        let environment = lock.withLock { environments[name]! }
        let process = try ChildProcess(productsDirectory + "/" + (executable ?? name), environment: environment)
        SagaMartSystem.register(process)
        lock.withLock { processes[name] = process }
    }

    /// Sends `signal` to a service (SIGKILL for a crash) and waits for it to exit.
    public func kill(_ name: String, signal: Int32 = SIGKILL) async {
        guard let process = lock.withLock({ processes[name] }) else { return }
        process.signal(signal)
        _ = await process.wait()
    }

    /// Waits until a service answers ready, for two minutes at most in all: a process that accepts
    /// connections but never answers fails the test with its log, rather than holding the run for hours
    /// (600 probes of the test client's 60 s each once did).
    public func waitReady(_ name: String, timeout: Duration = .seconds(120)) async throws {
        let deadline = ContinuousClock.now + timeout
        let probe = ClientRequest(method: "GET", url: "\(url(name))/health/ready", timeout: .seconds(5))
        while ContinuousClock.now < deadline {
            // Ready, and answered by this process (not by another one that holds the port after ours failed).
            if (try? await client.execute(probe).status.code) == 200 && isRunning(name) { return }
            if !isRunning(name) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw PostgresCluster.ClusterError(message: "\(name) did not become ready: \(output(name))")
    }

    /// Whether the process of a service is still running.
    public func isRunning(_ name: String) -> Bool {
        guard let process = lock.withLock({ processes[name] }) else { return false }
        return process.isRunning
    }

    /// What a service logged.
    public func output(_ name: String) -> String { lock.withLock { processes[name]?.output ?? "" } }

    public func stopAll() {
        let all = lock.withLock { Array(processes.values) }
        for process in all { process.signal(SIGKILL) }
        lock.withLock { processes = [:] }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Calls the gateway as `key` (nil: no key).
    public func call(
        _ method: String,
        _ path: String,
        key: String?,
        json: String? = nil,
        headers: [(String, String)] = []
    ) async throws -> Response {
        var fields = HTTPHeaders(headers)
        if let key { fields.add(name: "Authorization", value: "Bearer \(key)") }
        if json != nil { fields.add(name: "Content-Type", value: "application/json") }
        return try await client.execute(ClientRequest(method: method, url: gateway + path, headers: fields, body: Array((json ?? "").utf8)))
    }

    // Every process any system started, killed when the test process exits if it still runs (one that has
    // been reaped is left alone: its pid may belong to another process by then).
    // Held weakly: a released process is killed and reaped by its own deinit.
    private struct Started: @unchecked Sendable { weak var process: ChildProcess? }
    private static let all = Mutex<[Started]>([])
    private static let cleanup: Void = {
        atexit { SagaMartSystem.all.withLock { for started in $0 { started.process?.signal(SIGKILL) } } }
    }()

    private static func register(_ process: ChildProcess) {
        _ = cleanup
        all.withLock { list in
            list.removeAll { $0.process == nil }
            list.append(Started(process: process))
        }
    }
}

/// A service's settings that hold every command (POST) for `delay` before its handler, by fault injection
/// (`server.before_handle`), so a test can stop a process in the middle of a step.
public func delayedCommands(_ delay: String) -> [String: String] {
    ["FAULT_INJECTION": "on", "FAULTS": "server.before_handle@POST /:delay(\(delay))"]
}
