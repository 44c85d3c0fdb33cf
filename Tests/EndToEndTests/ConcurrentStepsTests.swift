import Foundation
import HTTP
import ServiceKit
import TestSupport
import Testing

/// Past the pivot the saga sends inventory.commit and order.approve at the same time: with the commit
/// held up at inventory, the order is approved while the reservation is still waiting for its commit
/// (one after the other, the approval could only come after the commit's answer).
@Suite("Steps sent together", .serialized)
struct ConcurrentStepsTests {
    @Test func theOrderIsApprovedWhileTheCommitIsHeldUp() async throws {
        // The commit is held 12 s, under the saga's call timeout, so the saga waits for it instead of retrying
        // (6 s was once too short a window on a loaded CI run for the polling below to see the approval).
        let system = try await SagaMartSystem(overrides: [
            "inventory": ["FAULT_INJECTION": "on", "FAULTS": "server.before_handle@/commit:delay(12s):n=1"],
            "saga": ["SAGA_CALL_TIMEOUT": "30s", "SAGA_LEASE": "60s"],
            "gateway": ["CHECKOUT_WAIT": "50s"],
        ])
        let sku = uniqueSKU("TOGETHER")
        try await system.createProduct(sku, stock: 5)
        let checkout = Task { try await system.checkout(checkoutBody(sku: sku)) }
        let inventory = ServiceAuthenticator.development(service: "saga").authorization(for: "inventory")
        var seen: (order: String, reservation: String, checkoutDone: Bool)?
        let deadline = ContinuousClock.now + .seconds(50)
        while seen == nil, ContinuousClock.now < deadline {
            let running = try await system.call("GET", "/v1/sagas?status=RUNNING", key: admin).object["items"] as? [[String: Any]] ?? []
            if let saga = running.first, let sagaId = saga["id"] as? String, let orderId = saga["orderId"] as? String {
                let status = try await system.order(orderId)["status"] as? String
                if status == "APPROVED" {
                    let reservation = try await system.client.get(
                        "\(system.url("inventory"))/v1/reservations/\(sagaId)",
                        headers: inventory
                    )
                    seen = (status ?? "", reservation.object["status"] as? String ?? "?", false)
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let answer = try await checkout.value
        #expect(answer.status.code == 201, "\(answer.bodyText)")
        let observed = try #require(seen, "the order was never seen approved while the saga ran")
        #expect(observed.order == "APPROVED")
        #expect(observed.reservation != "COMMITTED", "approved before the commit was answered")
        system.stopAll()
    }
}
