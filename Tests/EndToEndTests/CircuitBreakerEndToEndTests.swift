import Foundation
import HTTP
import TestSupport
import Testing

/// Circuit breakers in the running system: payment stopped, checkouts are refused at once with 503 and
/// Retry-After (no storm of connection attempts), and served again within one half-open interval of
/// payment's return.
@Suite("Circuit breakers end to end", .serialized)
struct CircuitBreakerEndToEndTests {
    /// The gateway's count of connections opened to `service`, from its `/metrics`.
    func connects(_ system: SagaMartSystem, to service: String) async throws -> Int {
        let metrics = try await system.call("GET", "/metrics", key: admin).bodyText
        let peer = "127.0.0.1:\(system.ports[service]!)"
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("http_client_connects{") && $0.contains("peer=\"\(peer)\"") }
        return line.flatMap { Int(Double($0.split(separator: " ").last ?? "") ?? -1) } ?? 0
    }

    func breakerState(_ system: SagaMartSystem, of service: String) async throws -> String {
        let metrics = try await system.call("GET", "/metrics", key: admin).bodyText
        let peer = "127.0.0.1:\(system.ports[service]!)"
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("http_client_breaker_state{") && $0.contains("peer=\"\(peer)\"") }
        return String(line?.split(separator: " ").last ?? "none")
    }

    @Test func aStoppedDependencyIsNotStormedAndIsUsedAgainOnceBack() async throws {
        let system = try await SagaMartSystem(layout: .sqlite, overrides: ["gateway": ["CIRCUIT_BREAKER_OPEN": "1s"]])
        defer { system.stopAll() }
        let sku = uniqueSKU("BREAKER")
        try await system.createProduct(sku, stock: 100)
        #expect(try await system.checkout(checkoutBody(sku: sku)).status.code == 201)
        await system.kill("payment")

        let before = try await connects(system, to: "payment")
        let start = ContinuousClock.now
        var statuses: [Int] = []
        var retryAfter: [String?] = []
        for _ in 0..<40 {
            let response = try await system.checkout(checkoutBody(sku: sku))
            statuses.append(response.status.code)
            retryAfter.append(response.headers["Retry-After"])
            try await Task.sleep(for: .milliseconds(50))
        }
        let attempts = try await connects(system, to: "payment") - before
        let elapsed = ContinuousClock.now - start
        print("40 checkouts with payment down over \(elapsed): \(attempts) connection attempts to payment")
        #expect(statuses.allSatisfy { $0 == 503 }, "\(statuses)")
        #expect(retryAfter.allSatisfy { $0 != nil })
        // Five failures open the breaker; after that, at most one probe per half-open interval (1 s, then
        // 2 s, 4 s). Without a breaker each of the 40 would connect at least once.
        let bound = min(20, 7 + Int(elapsed.components.seconds))
        #expect(attempts <= bound, "\(attempts) connection attempts for 40 checkouts in \(elapsed)")
        #expect(try await breakerState(system, of: "payment") != "0")

        try system.start("payment")
        try await system.waitReady("payment")
        let back = ContinuousClock.now
        var recovered: Duration?
        while ContinuousClock.now - back < .seconds(15) {
            if try await system.checkout(checkoutBody(sku: sku)).status.code == 201 {
                recovered = ContinuousClock.now - back
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        print("served again \(recovered.map { "\($0)" } ?? "never") after payment was back")
        let interval = try #require(recovered)
        // At most one half-open interval (the longest is 4 s), plus a checkout.
        #expect(interval < .seconds(6))
        #expect(try await breakerState(system, of: "payment") == "0")
    }
}

/// Overload: checkouts beyond the gateway's limit in flight are refused at once with 503 and Retry-After,
/// never left to time out; the ones admitted finish.
@Suite("Admission control end to end", .serialized)
struct AdmissionEndToEndTests {
    @Test func checkoutsBeyondTheLimitAreRefusedAtOnce() async throws {
        let system = try await SagaMartSystem(
            layout: .sqlite,
            overrides: ["gateway": ["CHECKOUT_MAX_IN_FLIGHT": "2"], "payment": delayedCommands("1s")]
        )
        defer { system.stopAll() }
        let sku = uniqueSKU("ADMIT")
        try await system.createProduct(sku, stock: 100)
        let answers = try await withThrowingTaskGroup(of: (Int, String?, String?).self) { group in
            for _ in 0..<6 {
                group.addTask {
                    let response = try await system.checkout(checkoutBody(sku: sku))
                    return (response.status.code, response.object["code"] as? String, response.headers["Retry-After"])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let admitted = answers.filter { $0.0 == 201 }
        let refused = answers.filter { $0.0 == 503 }
        #expect(admitted.count >= 2, "\(answers)")
        #expect(refused.count >= 1, "\(answers)")
        #expect(admitted.count + refused.count == 6, "\(answers)")
        #expect(refused.allSatisfy { $0.1 == "overloaded" && $0.2 == "1" }, "\(refused)")
        // Operators see the limit, the work in flight and the refusals in the gateway's metrics.
        let metrics = try await system.call("GET", "/metrics", key: admin).bodyText
        func gauge(_ name: String) -> Int? {
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("\(name){work=\"checkout\"} ") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "").map { Int($0) } }
        }
        #expect(gauge("admission_limit") == 2, "\(metrics)")
        #expect(gauge("admission_in_flight") == 0, "\(metrics)")
        #expect(gauge("admission_refused") == refused.count, "\(metrics)")
        // Room again once they are done.
        #expect(try await system.checkout(checkoutBody(sku: sku)).status.code == 201)
    }
}
