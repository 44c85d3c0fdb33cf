import Foundation
import HTTP
import Platform
import Synchronization
import TestSupport
import Testing

/// `make chaos`: concurrent clients check out through the gateway and retry like real clients (the same
/// Idempotency-Key after 503s, timeouts and dropped connections, and again after a 202 until the answer is
/// final) while a nemesis kills random processes among all six with SIGKILL, restarts them after a random
/// pause, turns injected faults on and off, and on the compose layout restarts PostgreSQL. Afterwards, with
/// every saga terminal, the auditor must report no violation and every key answered 201 must be an approved
/// order whose payment was captured.
///
/// Settings (environment): `CHECKOUTS` (200 here, 2,000 under `make chaos`), `KILLS` (10; 60), `CLIENTS` (8;
/// 16), `SEED`, `LAYOUT` (`sqlite`, `compose`, or both when unset). A short fixed-seed run is part of `make test`.
@Suite("Chaos: kills and faults under load", .serialized)
struct ChaosTests {
    struct Settings {
        var checkouts: Int
        var kills: Int
        var clients: Int
        var seed: UInt64

        static func fromEnvironment() -> Settings {
            let environment = ProcessInfo.processInfo.environment
            return Settings(
                checkouts: Int(environment["CHECKOUTS"] ?? "") ?? 200,
                kills: Int(environment["KILLS"] ?? "") ?? 10,
                clients: Int(environment["CLIENTS"] ?? "") ?? 8,
                seed: UInt64(environment["SEED"] ?? "") ?? 20_261_130
            )
        }
    }

    static var layouts: [Layout] {
        if let chosen = ProcessInfo.processInfo.environment["LAYOUT"], let layout = Layout(rawValue: chosen) { return [layout] }
        return Layout.available
    }

    /// The nemesis's choices, replayed by `SEED`.
    struct Random {
        var generator: SplitMix64
        mutating func below(_ n: Int) -> Int { Int(generator.next() % UInt64(n)) }
        mutating func milliseconds(_ range: ClosedRange<Int>) -> Duration { .milliseconds(range.lowerBound + below(range.count)) }
    }

    /// The next checkout's number, shared by the clients.
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    /// What one client's checkout ended with.
    struct Outcome: Sendable {
        let key: String
        let status: Int
        let orderId: String?
        let latency: Duration
        let attempts: Int
    }

    static let faultsMenu = [
        ("payment", "participant.after_commit:reset:p=0.2"),
        ("inventory", "participant.before_commit:fail(503):p=0.2"),
        ("shipping", "server.before_handle:delay(300ms):p=0.3"),
        ("order", "participant.after_commit:fail(503):p=0.15"),
        ("saga", "saga.before_send:fail(503):p=0.1"),
        ("saga", "saga.after_reply:fail(503):p=0.1"),
        ("gateway", "client.after_send@/v1/payment-methods:reset:p=0.2"),
        ("order", "consumer.after_apply:fail(503):p=0.3"),
        ("payment", "outbox.before_page:delay(200ms):p=0.5"),
    ]

    @Test(arguments: layouts)
    func killsAndFaultsLoseAndDoubleNothing(_ layout: Layout) async throws {
        let settings = Settings.fromEnvironment()
        let cluster: PostgresCluster? = layout == .sqlite ? nil : try await offPool { try PostgresCluster() }
        defer { cluster?.destroy() }
        var overrides: [String: [String: String]] = [:]
        for service in SagaMartSystem.services {
            overrides[service] = ["FAULT_INJECTION": "on", "LOG_LEVEL": "warning"]
        }
        overrides["saga", default: [:]]["SAGA_STEP_DEADLINE"] = "5s"
        let system = try await SagaMartSystem(layout: layout, cluster: cluster, overrides: overrides)
        defer { system.stopAll() }
        let sku = uniqueSKU("CHAOS")
        try await system.createProduct(sku, stock: settings.checkouts * 2, priceCents: 1500)

        let next = Counter()
        let started = ContinuousClock.now
        // The clients.
        async let outcomes: [Outcome] = withThrowingTaskGroup(of: [Outcome].self) { group in
            for client in 0..<settings.clients {
                group.addTask {
                    var mine: [Outcome] = []
                    while true {
                        let n = next.value.add(1, ordering: .relaxed).oldValue
                        if n >= settings.checkouts { return mine }
                        let card = n % 10 == 7 ? "4000000000000002" : "4242424242424242"
                        mine.append(try await Self.checkout(system, body: checkoutBody(sku: sku, card: card), client: client))
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }

        // The nemesis: kills spread over the run, faults on and off, PostgreSQL restarted on compose.
        var random = Random(generator: SplitMix64(seed: settings.seed))
        var kills: [String: Int] = [:]
        var restartsOfPostgres = 0
        // Counts of faults fired die with their process: read before each kill.
        var faultsFired: [String: Int] = [:]
        for round in 0..<settings.kills {
            if next.value.load(ordering: .relaxed) >= settings.checkouts { break }
            try await Task.sleep(for: random.milliseconds(200...1200))
            if round % 3 == 1 {
                let (service, spec) = Self.faultsMenu[random.below(Self.faultsMenu.count)]
                _ = try? await Self.setFaults(system, service, spec)
            }
            if round % 3 == 2 {
                for service in SagaMartSystem.services { _ = try? await Self.setFaults(system, service, "") }
            }
            if let cluster, round == settings.kills / 2 {
                try await offPool { cluster.stop(mode: "fast") }
                try await Task.sleep(for: random.milliseconds(300...1500))
                try await offPool { try cluster.start() }
                restartsOfPostgres += 1
                continue
            }
            let victim = SagaMartSystem.services[random.below(SagaMartSystem.services.count)]
            for (key, value) in (try? await Self.faultsFired(system, [victim])) ?? [:] { faultsFired[key, default: 0] += value }
            await system.kill(victim)
            kills[victim, default: 0] += 1
            // Mostly short outages; one in four longer than the saga's step deadline.
            try await Task.sleep(for: round % 4 == 3 ? random.milliseconds(5500...8000) : random.milliseconds(200...2000))
            try system.start(victim)
            try await system.waitReady(victim)
        }
        let results = try await outcomes
        let elapsed = ContinuousClock.now - started

        // Quiet: faults off, every process up, every saga terminal.
        for service in SagaMartSystem.services where !system.isRunning(service) {
            try system.start(service)
            try await system.waitReady(service)
        }
        for (key, value) in try await Self.faultsFired(system, SagaMartSystem.services) { faultsFired[key, default: 0] += value }
        for service in SagaMartSystem.services { _ = try await Self.setFaults(system, service, "") }
        #expect(
            try await system.eventually(.seconds(120)) {
                for status in ["RUNNING", "COMPENSATING"] {
                    let page = try await system.call("GET", "/v1/sagas?status=\(status)&limit=1", key: admin).object
                    if !((page["items"] as? [Any])?.isEmpty ?? false) { return false }
                }
                return true
            },
            "sagas still running after the chaos"
        )

        // What the clients were told, and what the system holds.
        let byStatus = Dictionary(grouping: results, by: \.status).mapValues(\.count)
        var violations: [String] = []
        // With every process up and every saga terminal the audit must run: one that cannot is a finding too.
        // Right after a restart it may answer 503 while the auditor's breaker for that service cools (its
        // Retry-After): a client asks again, and so does this one, for up to 30 s.
        var audit = try await system.call("GET", "/v1/admin/consistency", key: admin)
        _ = try await system.eventually(.seconds(30)) {
            if audit.status.code == 503 { audit = try await system.call("GET", "/v1/admin/consistency", key: admin) }
            return audit.status.code != 503
        }
        let report = audit.object
        if audit.status.code != 200 {
            violations.append("the consistency audit answered \(audit.status.code): \(report["detail"] ?? audit.bodyText)")
        } else if report["ok"] as? Bool != true {
            for violation in report["violations"] as? [[String: Any]] ?? [] { violations.append("\(violation)") }
        }
        for outcome in results where outcome.status == 201 {
            let order = try await system.order(outcome.orderId ?? "")
            let payment = (order["payment"] as? [String: Any])?["status"] as? String
            if order["status"] as? String != "APPROVED" || payment != "CAPTURED" {
                let problem = order["detail"].map { " (\($0))" } ?? ""
                violations.append(
                    "key \(outcome.key) was answered 201 but order \(outcome.orderId ?? "?") is \(order["status"] ?? "missing")\(problem), payment \(payment ?? "none")"
                )
            }
        }
        for outcome in results where ![201, 402, 409, 422, 5030].contains(outcome.status) {
            violations.append("key \(outcome.key) never got a final answer (last \(outcome.status))")
        }
        let latencies = results.map(\.latency).sorted()
        func percentile(_ p: Double) -> String {
            guard !latencies.isEmpty else { return "-" }
            let value = latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
            return "\(Int(Double(value.components.seconds) * 1000 + Double(value.components.attoseconds) / 1e15)) ms"
        }
        print(
            """
            chaos \(layout): \(results.count) checkouts by \(settings.clients) clients in \(elapsed), seed \(settings.seed)
              answers: \(byStatus.sorted { $0.key < $1.key }.map { "\($0.key == 5030 ? "503 (compensated)" : "\($0.key)") x\($0.value)" }.joined(separator: ", "))
              client attempts: \(results.map(\.attempts).reduce(0, +)) for \(results.count) checkouts
              kills: \(kills.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))\(restartsOfPostgres > 0 ? ", postgres \(restartsOfPostgres)" : "")
              faults fired: \(faultsFired.isEmpty ? "none" : faultsFired.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
              latency of a checkout to its final answer: p50 \(percentile(0.5)), p90 \(percentile(0.9)), p99 \(percentile(0.99))
              violations: \(violations.count)
            """
        )
        for violation in violations { print("  VIOLATION \(violation)") }
        if !violations.isEmpty {
            // What each service last logged (warnings and errors only here): where a violation starts.
            for service in SagaMartSystem.services {
                let lines = system.output(service).split(separator: "\n").suffix(15)
                print("  last lines of \(service)'s log:\n    " + lines.joined(separator: "\n    "))
            }
        }
        #expect(results.count == settings.checkouts)
        #expect(violations.isEmpty, "\(violations.count) violation(s): \(violations.prefix(5))")
        #expect(byStatus[201, default: 0] > 0)
    }

    /// One checkout as a real client makes it: the same key until a final answer (201, 402, 409, 422),
    /// again after a 202 (it asks later), a 503, a timeout or a dropped connection, for up to 3 minutes.
    static func checkout(_ system: SagaMartSystem, body: String, client: Int) async throws -> Outcome {
        let key = UUID().uuidString
        let start = ContinuousClock.now
        var attempts = 0
        var last = 0
        var orderId: String?
        while ContinuousClock.now - start < .seconds(180) {
            attempts += 1
            do {
                let response = try await system.client.execute(
                    ClientRequest(
                        method: "POST",
                        url: system.gateway + "/v1/checkout",
                        headers: HTTPHeaders([
                            ("Authorization", "Bearer \(client % 2 == 0 ? alice : bob)"), ("Content-Type", "application/json"),
                            ("Idempotency-Key", key),
                        ]),
                        body: Array(body.utf8),
                        timeout: .seconds(15)
                    )
                )
                last = response.status.code
                // Final: approved or refused, or a 503 that names its checkout (the saga compensated because a
                // participant stayed down past the step deadline; the key keeps that answer).
                if [201, 402, 409, 422].contains(last) || (last == 503 && response.object["checkoutId"] != nil) {
                    orderId = response.object["orderId"] as? String
                    if last == 503 { last = 5030 }
                    break
                }
            } catch {
                last = 0
            }
            try await Task.sleep(for: .milliseconds(last == 202 ? 500 : 200))
        }
        return Outcome(key: key, status: last, orderId: orderId, latency: ContinuousClock.now - start, attempts: attempts)
    }

    static func setFaults(_ system: SagaMartSystem, _ service: String, _ spec: String) async throws -> Int {
        try await system.call("POST", "/v1/admin/faults?service=\(service)", key: admin, json: #"{"faults":"\#(spec)"}"#).status.code
    }

    /// Faults fired so far, summed over the services, by `point/action`.
    static func faultsFired(_ system: SagaMartSystem, _ services: [String]) async throws -> [String: Int] {
        var total: [String: Int] = [:]
        for service in services {
            let view = try await system.call("GET", "/v1/admin/faults?service=\(service)", key: admin).object
            for (key, value) in view["fired"] as? [String: Int] ?? [:] { total[key, default: 0] += value }
        }
        return total
    }
}
