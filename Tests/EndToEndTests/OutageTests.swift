import Foundation
import HTTP
import TestSupport
import Testing

/// What a chaos run found (issue 12): a participant unreachable for longer than the step deadline while a
/// saga compensated left the saga FAILED, the gateway kept a 500 for the key, and the step's error named the
/// action instead of the compensation. Payment's outage here is injected: every void it is sent has its
/// connection dropped, until the fault is removed.
@Suite("Outages during a compensation", .serialized)
struct OutageTests {
    @Test func anOutageLongerThanTheStepDeadlineDelaysACompensationAndTheClientNeverSeesA500() async throws {
        let system = try await SagaMartSystem(
            layout: .sqlite,
            overrides: [
                "payment": ["FAULT_INJECTION": "on", "FAULTS": "server.before_handle@/void:reset"], "saga": ["SAGA_STEP_DEADLINE": "1s"],
            ]
        )
        defer { system.stopAll() }
        let sku = uniqueSKU("OUTAGE")
        try await system.createProduct(sku, stock: 5, priceCents: 800)
        let key = UUID().uuidString
        // Undeliverable: shipping refuses, and the saga compensates (payment.void first).
        let body = checkoutBody(sku: sku, quantity: 2, country: "XX")
        let started = try await system.checkout(body, idempotencyKey: key, headers: [("Prefer", "respond-async")])
        #expect(started.status.code == 202, "\(started.bodyText)")
        let checkoutId = try #require(started.object["checkoutId"] as? String)
        func steps() async throws -> [[String: Any]] {
            try await system.call("GET", "/v1/checkouts/\(checkoutId)", key: admin).object["steps"] as? [[String: Any]] ?? []
        }
        #expect(try await system.eventually { try await steps().last?["name"] as? String == "payment.void" })

        // Unreachable for four times the step deadline: the void is retried all along.
        try await Task.sleep(for: .seconds(4))
        let during = try await system.call("GET", "/v1/checkouts/\(checkoutId)", key: admin).object
        #expect(during["status"] as? String == "COMPENSATING", "\(during)")
        let void = try #require(try await steps().last)
        #expect(void["name"] as? String == "payment.void")
        #expect(void["status"] as? String == "RUNNING")
        #expect((void["attempts"] as? Int ?? 0) >= 2)
        let error = void["error"] as? String ?? ""
        #expect(error.hasPrefix("payment.void:"), "\(error)")
        #expect(!error.contains("payment.authorize"), "\(error)")

        // The client asking again meanwhile: 202 with the checkout's address, never a 500.
        let replay = try await system.checkout(body, idempotencyKey: key)
        #expect(replay.status.code == 202, "\(replay.bodyText)")
        #expect(replay.headers["Location"] == "/v1/checkouts/\(checkoutId)")

        // Payment reachable again: the compensation ends, and the key answers the final refusal.
        let cleared = try await system.call("POST", "/v1/admin/faults?service=payment", key: admin, json: #"{"faults":""}"#)
        #expect(cleared.status.code == 200)
        let finished = try await system.waitForCheckout(checkoutId)
        #expect(finished["status"] as? String == "COMPENSATED", "\(finished)")
        let final = try await system.checkout(body, idempotencyKey: key)
        #expect(final.status.code == 422, "\(final.bodyText)")
        #expect(final.object["code"] as? String == "undeliverable")
        let order = try await system.order(try #require(final.object["orderId"] as? String))
        #expect(order["status"] as? String == "REJECTED")
        #expect((order["payment"] as? [String: Any])?["status"] as? String == "VOIDED")
        #expect(try await system.available(sku) == 5)
    }
}
