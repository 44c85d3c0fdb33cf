import Foundation
import HTTP
import TestSupport
import Testing

/// PostgreSQL restarted under traffic: requests in flight fail, the services recover without a restart,
/// every saga finishes, and the invariants hold.
@Suite("PostgreSQL restart under traffic", .enabled(if: PostgresCluster.isAvailable, "PostgreSQL server binaries not installed"))
struct PostgresRestartTests {
    @Test func theServicesRecoverWithoutARestart() async throws {
        let cluster = try await offPool { try PostgresCluster() }
        defer { cluster.destroy() }
        let system = try await SagaMartSystem(layout: .compose, cluster: cluster)
        defer { system.stopAll() }
        let sku = uniqueSKU("PGR")
        try await system.createProduct(sku, stock: 10_000, priceCents: 250)

        // Traffic from 2 s before the stop to about 8 s after the start: on a loaded CI run all eleven
        // checkouts of a 4 s window once ran into the outage.
        let end = ContinuousClock.now + .seconds(10)
        // Each answer's status, with its problem code when it is not 201 (what a failure message shows).
        async let load: [String] = withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var codes: [String] = []
                    while ContinuousClock.now < end {
                        let answer = try? await system.checkout(checkoutBody(sku: sku))
                        let code = answer?.status.code ?? 0
                        codes.append(code == 201 ? "201" : "\(code) \(answer?.object["code"] as? String ?? "")")
                    }
                    return codes
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        try await Task.sleep(for: .seconds(2))
        try await offPool { cluster.stop(mode: "fast") }
        try await Task.sleep(for: .milliseconds(500))
        try await offPool { try cluster.start() }
        let codes = try await load
        #expect(codes.contains("201"), "\(codes)")

        // No service was restarted; each answers and is ready again.
        for service in SagaMartSystem.services { #expect(system.isRunning(service), "\(service) exited") }
        for service in SagaMartSystem.services { try await system.waitReady(service) }
        let after = try await system.checkout(checkoutBody(sku: sku))
        #expect(after.status.code == 201, "\(after.bodyText)")

        // Every saga started during the outage finishes.
        let deadline = ContinuousClock.now + .seconds(60)
        var unfinished = -1
        while unfinished != 0 && ContinuousClock.now < deadline {
            unfinished = 0
            for status in ["RUNNING", "COMPENSATING"] {
                let page = try await system.call("GET", "/v1/sagas?status=\(status)", key: admin).object
                unfinished += (page["items"] as? [Any])?.count ?? 1
            }
            if unfinished > 0 { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(unfinished == 0)
        try await system.checkInvariants(sku: sku, initialStock: 10_000, priceCents: 250)
    }
}
