import Foundation
import HTTP
import TestSupport
import Testing

/// Reservations expire by themselves (`RESERVATION_TTL`), and a checkout never finds its reservation expired
/// after the pivot: in versions 2 to 4 the hold is made permanent before capture (`inventory.hold`), so an
/// expired hold is found while everything can still be undone; versions 1 and 5 hold until commit from the
/// reservation on.
@Suite("Reservations expire by themselves", .serialized)
struct ReservationExpiryTests {
    static let shortTTL = ["RESERVATION_TTL": "2s", "RESERVATION_SWEEP_INTERVAL": "100ms"]
    /// Calls that wait out shipping's delay (longer than the hold).
    static let patientSaga = ["SAGA_CALL_TIMEOUT": "5s", "SAGA_STEP_DEADLINE": "10s"]

    func reservation(_ system: SagaMartSystem, _ id: String) async throws -> [String: Any] {
        try await system.service("inventory", "GET", "/v1/reservations/\(id)").object
    }

    func reserve(_ system: SagaMartSystem, _ id: String, sku: String) async throws -> Response {
        try await system.service(
            "inventory",
            "POST",
            "/v1/reservations",
            json: #"{"reservationId":"\#(id)","items":[{"sku":"\#(sku)","quantity":2}]}"#
        )
    }

    /// The checkout's final answer: started asynchronously, waited for, and asked again with its key.
    func finalAnswer(_ system: SagaMartSystem, _ body: String) async throws -> Response {
        let key = UUID().uuidString
        let started = try await system.checkout(body, idempotencyKey: key, headers: [("Prefer", "respond-async")])
        _ = try await system.waitForCheckout(started.object["checkoutId"] as? String ?? "")
        return try await system.checkout(body, idempotencyKey: key)
    }

    @Test func anAbandonedReservationIsReleasedWithItsEventAndAHeldOneIsNot() async throws {
        // A hold of 6 s: time enough to hold one before it runs out even on a loaded machine.
        let system = try await SagaMartSystem(
            layout: .sqlite,
            overrides: ["inventory": ["RESERVATION_TTL": "6s", "RESERVATION_SWEEP_INTERVAL": "100ms"]]
        )
        defer { system.stopAll() }
        let sku = uniqueSKU("TTL")
        try await system.createProduct(sku, stock: 10)
        let (abandoned, held, late) = (UUID().uuidString, UUID().uuidString, UUID().uuidString)
        #expect(try await reserve(system, held, sku: sku).status.code == 201)
        #expect(try await system.service("inventory", "POST", "/v1/reservations/\(held)/hold").status.code == 200)
        for id in [abandoned, late] {
            let reserved = try await reserve(system, id, sku: sku)
            #expect(reserved.status.code == 201)
            #expect(reserved.object["expiresAt"] is String, "a timed hold says until when: \(reserved.bodyText)")
        }
        #expect(try await system.eventually(.seconds(20)) { try await reservation(system, abandoned)["status"] as? String == "EXPIRED" })
        // Reserved a moment after the first (a long moment on a loaded machine): its hold ends a moment later.
        #expect(try await system.eventually(.seconds(20)) { try await reservation(system, late)["status"] as? String == "EXPIRED" })
        // The held one stays held, with no expiry, and commits.
        let kept = try await reservation(system, held)
        #expect(kept["status"] as? String == "RESERVED")
        #expect(kept["expiresAt"] == nil)
        #expect(try await system.available(sku) == 8)
        #expect(try await system.service("inventory", "POST", "/v1/reservations/\(held)/commit").status.code == 200)
        // Too late to hold an expired one, or to reserve it again.
        let refused = try await system.service("inventory", "POST", "/v1/reservations/\(late)/hold")
        #expect(refused.status.code == 409)
        #expect(refused.object["code"] as? String == "reservation_expired")
        #expect(try await reserve(system, late, sku: sku).status.code == 409)
        // Each expiry is on inventory's feed.
        let feed = try await system.service("inventory", "GET", "/v1/events?after=0&limit=1000").object["items"] as? [[String: Any]] ?? []
        let expired = feed.filter { $0["type"] as? String == "inventory.reservation_expired" }.compactMap { $0["aggregateId"] as? String }
        #expect(Set(expired) == [abandoned, late])
        // The auditor sees stock conserved; its only findings are the reservations this test made without a saga.
        let report = try await system.call("GET", "/v1/admin/consistency", key: admin).object
        let kinds = Set((report["violations"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String })
        #expect(kinds == ["orphan_reservation"], "\(report)")
    }

    /// Version 3 holds after the shipment is scheduled: a slow shipping service makes the hold late. Version 4
    /// sends the hold with the authorisation and the shipment, once the order is created: a slow order
    /// service makes it late (a slow shipping service no longer can, the stock being held by then).
    @Test(arguments: [("3", "shipping"), ("4", "order")])
    func aCheckoutSlowerThanTheHoldIsUndoneBeforeThePivotAndChargesNothing(version: String, slow: String) async throws {
        let system = try await SagaMartSystem(
            layout: .sqlite,
            overrides: [
                "inventory": Self.shortTTL, slow: delayedCommands("2500ms"),
                "saga": Self.patientSaga.merging(["CHECKOUT_SAGA_VERSION": version]) { $1 },
            ]
        )
        defer { system.stopAll() }
        let sku = uniqueSKU("SLOW")
        try await system.createProduct(sku, stock: 5)
        let response = try await finalAnswer(system, checkoutBody(sku: sku, quantity: 2))
        #expect(response.status.code == 409, "\(response.bodyText)")
        #expect(response.object["code"] as? String == "reservation_expired")
        let order = try await system.order(try #require(response.object["orderId"] as? String))
        #expect(order["status"] as? String == "REJECTED")
        #expect((order["payment"] as? [String: Any])?["status"] as? String == "VOIDED")
        #expect(try await system.available(sku) == 5)
        #expect(try await system.auditorViolations() == nil)
    }

    /// Versions 1 and 5 have no hold before their pivot: their reservations are held until commit from the
    /// start, so no slow participant makes them expire (version 5 with a slow order service is the case
    /// that version 4 refuses above).
    @Test(arguments: [("1", "shipping"), ("5", "order"), ("5", "shipping")])
    func aVersionWithoutAHoldHoldsUntilCommit(version: String, slow: String) async throws {
        let system = try await SagaMartSystem(
            layout: .sqlite,
            overrides: [
                "inventory": Self.shortTTL, slow: delayedCommands("2500ms"),
                "saga": Self.patientSaga.merging(["CHECKOUT_SAGA_VERSION": version]) { $1 },
            ]
        )
        defer { system.stopAll() }
        let sku = uniqueSKU("V\(version)")
        try await system.createProduct(sku, stock: 5)
        let response = try await finalAnswer(system, checkoutBody(sku: sku, quantity: 2))
        #expect(response.status.code == 201, "\(response.bodyText)")
        #expect(try await system.available(sku) == 3)
    }
}
