import Foundation
import HTTP
import TestSupport
import Testing

/// Saga definitions have versions: sagas started on version 1 finish on version 1 after the saga service is
/// upgraded to version 2 and restarted; new sagas use version 2 (its fraud screen refuses a large first order).
@Suite("Saga definition versions across an upgrade", .serialized)
struct SagaVersionTests {
    @Test func versionOneSagasInFlightFinishOnVersionOneAfterARestartOnVersionTwo() async throws {
        let system = try await SagaMartSystem(
            layout: .sqlite,
            overrides: [
                "saga": ["CHECKOUT_SAGA_VERSION": "1"], "payment": delayedCommands("700ms"), "order": ["FRAUD_REVIEW_CENTS": "5000"],
            ]
        )
        defer { system.stopAll() }
        let sku = uniqueSKU("VER")
        try await system.createProduct(sku, stock: 20, priceCents: 1000)
        var inFlight: [String] = []
        for _ in 0..<3 {
            let started = try await system.checkout(checkoutBody(sku: sku, quantity: 1), headers: [("Prefer", "respond-async")])
            #expect(started.status.code == 202, "\(started.bodyText)")
            inFlight.append(try #require(started.object["checkoutId"] as? String))
        }
        // Each is at a payment step (held by the delay) when the saga service stops.
        #expect(
            try await system.eventually {
                for id in inFlight {
                    let steps = try await system.call("GET", "/v1/checkouts/\(id)", key: admin).object["steps"] as? [[String: Any]] ?? []
                    if !steps.contains(where: { ($0["name"] as? String)?.hasPrefix("payment.") == true }) { return false }
                }
                return true
            }
        )
        await system.kill("saga")
        system.setEnvironment("saga", "CHECKOUT_SAGA_VERSION", "2")
        try system.start("saga")
        try await system.waitReady("saga")

        for id in inFlight {
            let finished = try await system.waitForCheckout(id)
            #expect(finished["status"] as? String == "COMPLETED", "\(finished)")
            let saga = try await system.service("saga", "GET", "/v1/sagas/\(id)").object
            #expect(saga["version"] as? Int == 1)
            let names = (finished["steps"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(!names.contains("order.screen") && !names.contains("inventory.hold"), "\(names)")
        }

        // New sagas run version 2: a first order above the review amount is refused, a small one passes.
        let large = try await system.checkout(checkoutBody(sku: sku, quantity: 6), key: bob)
        #expect(large.status.code == 422, "\(large.bodyText)")
        #expect(large.object["code"] as? String == "fraud_suspected")
        let small = try await system.checkout(checkoutBody(sku: sku, quantity: 1), key: bob)
        #expect(small.status.code == 201, "\(small.bodyText)")
        let checkout = try await system.call("GET", "/v1/checkouts/\(small.object["checkoutId"] as? String ?? "")", key: admin).object
        let names = (checkout["steps"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(
            names == [
                "order.create", "inventory.reserve", "order.screen", "payment.authorize", "shipping.schedule", "inventory.hold",
                "payment.capture", "inventory.commit", "order.approve",
            ]
        )
        // Once bob has an approved order, a large one passes the screen.
        let trusted = try await system.checkout(checkoutBody(sku: sku, quantity: 6), key: bob)
        #expect(trusted.status.code == 201, "\(trusted.bodyText)")
        #expect(try await system.available(sku) == 20 - 3 - 1 - 6)
        #expect(try await system.auditorViolations() == nil)
    }

    /// Version 3 screens the order in its creation: a large first order is refused at once, no order is made
    /// and no stock held; a small one runs the eight steps.
    @Test func versionThreeScreensTheOrderInItsCreation() async throws {
        let system = try await SagaMartSystem(
            layout: .sqlite,
            overrides: ["order": ["FRAUD_REVIEW_CENTS": "5000"], "saga": ["CHECKOUT_SAGA_VERSION": "3"]]
        )
        defer { system.stopAll() }
        let sku = uniqueSKU("V3")
        try await system.createProduct(sku, stock: 20, priceCents: 1000)
        let large = try await system.checkout(checkoutBody(sku: sku, quantity: 6), key: bob)
        #expect(large.status.code == 422, "\(large.bodyText)")
        #expect(large.object["code"] as? String == "fraud_suspected")
        let refused = try await system.call("GET", "/v1/checkouts/\(large.object["checkoutId"] as? String ?? "")", key: admin).object
        #expect(
            (refused["steps"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "") \($0["status"] ?? "")" } == ["order.create REFUSED"]
        )
        let orderId = try #require(large.object["orderId"] as? String)
        #expect(try await system.call("GET", "/v1/orders/\(orderId)", key: bob).status.code == 404, "a refused order is not made")
        #expect(try await system.available(sku) == 20)

        let small = try await system.checkout(checkoutBody(sku: sku, quantity: 1), key: bob)
        #expect(small.status.code == 201, "\(small.bodyText)")
        let saga = try await system.service("saga", "GET", "/v1/sagas/\(small.object["checkoutId"] as? String ?? "")").object
        #expect(saga["version"] as? Int == 3)
        #expect(
            (saga["steps"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } == [
                "order.create", "inventory.reserve", "payment.authorize", "shipping.schedule", "inventory.hold", "payment.capture",
                "inventory.commit", "order.approve",
            ]
        )
        let trusted = try await system.checkout(checkoutBody(sku: sku, quantity: 6), key: bob)
        #expect(trusted.status.code == 201, "once bob has an approved order: \(trusted.bodyText)")
        #expect(try await system.available(sku) == 20 - 1 - 6)
        #expect(try await system.auditorViolations() == nil)
    }

    /// Versions 4 and 5 (the default) send the steps that do not wait on each other together, in four
    /// rounds. The stock is reserved beside the order's creation, so a refused creation (a suspected fraud)
    /// releases the reservation sent with it; a declined card cancels the shipment sent with the
    /// authorisation and releases the stock (version 4's hold went with it too; version 5 has none). Nothing
    /// is left held or charged, and the auditor finds every service agreeing.
    @Test(arguments: [4, 5])
    func theStepsThatDoNotWaitOnEachOtherGoTogether(version: Int) async throws {
        let system = try await SagaMartSystem(
            layout: .sqlite,
            overrides: ["order": ["FRAUD_REVIEW_CENTS": "5000"], "saga": version == 5 ? [:] : ["CHECKOUT_SAGA_VERSION": "\(version)"]]
        )
        defer { system.stopAll() }
        let sku = uniqueSKU("V\(version)")
        try await system.createProduct(sku, stock: 20, priceCents: 1000)
        func steps(_ checkoutId: String) async throws -> [String] {
            let saga = try await system.service("saga", "GET", "/v1/sagas/\(checkoutId)").object
            #expect(saga["version"] as? Int == version)
            return (saga["steps"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "") \($0["status"] ?? "")" }
        }

        let large = try await system.checkout(checkoutBody(sku: sku, quantity: 6), key: bob)
        #expect(large.status.code == 422, "\(large.bodyText)")
        #expect(large.object["code"] as? String == "fraud_suspected")
        #expect(try await steps(large.object["checkoutId"] as? String ?? "") == ["order.create REFUSED", "inventory.release SUCCEEDED"])
        #expect(try await system.available(sku) == 20)

        let declined = try await system.checkout(checkoutBody(sku: sku, quantity: 1, card: "4000000000000002"), key: bob)
        #expect(declined.status.code == 402, "\(declined.bodyText)")
        #expect(
            try await steps(declined.object["checkoutId"] as? String ?? "") == [
                "order.create SUCCEEDED", "inventory.reserve SUCCEEDED", "payment.authorize REFUSED", "shipping.cancel SUCCEEDED",
                "inventory.release SUCCEEDED", "order.reject SUCCEEDED",
            ]
        )
        #expect(try await system.available(sku) == 20)

        let small = try await system.checkout(checkoutBody(sku: sku, quantity: 1), key: bob)
        #expect(small.status.code == 201, "\(small.bodyText)")
        #expect(
            try await steps(small.object["checkoutId"] as? String ?? "") == [
                "order.create SUCCEEDED", "inventory.reserve SUCCEEDED", "payment.authorize SUCCEEDED", "shipping.schedule SUCCEEDED",
            ] + (version == 4 ? ["inventory.hold SUCCEEDED"] : []) + [
                "payment.capture SUCCEEDED", "inventory.commit SUCCEEDED", "order.approve SUCCEEDED",
            ]
        )
        let order = try await system.order(try #require(small.object["orderId"] as? String))
        #expect((order["shipment"] as? [String: Any])?["status"] as? String == "SCHEDULED", "the order saw its shipment: \(order)")
        #expect(try await system.available(sku) == 19)
        #expect(try await system.auditorViolations() == nil)
    }
}
