import Foundation
import HTTP
import ServiceKit
import TestSupport
import Testing

/// Two saga replicas on one PostgreSQL database: each saga is driven by the replica holding its lease,
/// and taken over by the other when its driver dies.
@Suite("Saga replicas", .serialized, .enabled(if: PostgresCluster.isAvailable, "PostgreSQL server binaries not installed"))
struct SagaReplicaTests {
    @Test func aKilledReplicasSagasAreFinishedByTheOtherExactlyOnce() async throws {
        // Each payment command held a second: every saga is still in flight when its replica is killed below
        // (at 300 ms, a quick run finished all twelve before the kill, and the other replica had none to take).
        let system = try await SagaMartSystem(layout: .compose, overrides: ["payment": delayedCommands("1s")])
        defer { system.stopAll() }
        try await system.startReplica(of: "saga", as: "saga-2")
        let sku = uniqueSKU("REPL")
        try await system.createProduct(sku, stock: 50, priceCents: 400)

        // Checkouts through the gateway, which talks to the first replica; some are in flight at the kill.
        var checkouts: [String] = []
        for _ in 0..<12 {
            let started = try await system.checkout(checkoutBody(sku: sku), headers: [("Prefer", "respond-async")])
            #expect(started.status.code == 202)
            checkouts.append(try #require(started.object["checkoutId"] as? String))
        }
        try await Task.sleep(for: .milliseconds(400))
        // While both lived, the second replica took no saga the first one held.
        #expect(!system.output("saga-2").contains("claimed sagas"))
        await system.kill("saga")

        let token = ServiceAuthenticator.development(service: "gateway").authorization(for: "saga")
        var finished: [String: [String: Any]] = [:]
        let deadline = ContinuousClock.now + .seconds(60)
        while finished.count < checkouts.count && ContinuousClock.now < deadline {
            for id in checkouts where finished[id] == nil {
                let response = try await system.client.get("\(system.url("saga-2"))/v1/checkouts/\(id)", headers: token)
                if let status = response.object["status"] as? String, ["COMPLETED", "COMPENSATED", "FAILED"].contains(status) {
                    finished[id] = response.object
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(finished.count == checkouts.count)
        #expect(finished.values.allSatisfy { $0["status"] as? String == "COMPLETED" })
        #expect(system.output("saga-2").contains("claimed sagas"))
        // No step applied twice: each succeeded once on every timeline.
        for (id, checkout) in finished {
            let succeeded = (checkout["steps"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "SUCCEEDED" }.compactMap {
                $0["name"] as? String
            }
            #expect(succeeded.count == Set(succeeded).count, "\(id): \(succeeded)")
            #expect(succeeded.count == 7, "the seven steps of checkout version 5")
        }
        #expect(try await system.available(sku) == 50 - checkouts.count)
        try await system.checkInvariants(sku: sku, initialStock: 50, priceCents: 400)
    }
}
