import Foundation
import HTTP
import ServiceKit
import Storage
import TestSupport
import Testing

/// The audit trails as an operator uses them: every change a person makes is there with who, what, when
/// and the request's trace, through `GET /v1/admin/audit`; `audit verify` checks each service's chain and
/// names the entry someone edited in a database file.
@Suite("Audit trail, end to end", .serialized)
struct AuditTrailEndToEndTests {
    @Test func changesArePeoplesAndTheChainsHold() async throws {
        let ana = "ana-operator-key-0123456789"
        let system = try await SagaMartSystem(overrides: ["gateway": ["ADMIN_API_KEYS": "ana:\(ana)"]])
        let sku = uniqueSKU("AUDIT")
        let created = try await system.call(
            "POST",
            "/v1/products",
            key: ana,
            json: #"{"sku":"\#(sku)","name":"Audited","priceCents":500,"currency":"EUR","stock":5}"#
        )
        #expect(created.status.code == 201)
        #expect(try await system.call("PUT", "/v1/products/\(sku)/stock", key: ana, json: #"{"available":9}"#).status.code == 200)
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let first = try await system.checkout(checkoutBody(sku: sku), headers: [("traceparent", traceparent)])
        let checkoutId = try #require(first.object["checkoutId"] as? String)
        let orderId = try #require(first.object["orderId"] as? String)
        #expect(try await system.call("POST", "/v1/orders/\(orderId)/cancel", key: alice).status.code == 200)
        let second = try await system.checkout(checkoutBody(sku: sku), key: bob)
        let shipmentId = try #require(second.object["shipmentId"] as? String)
        #expect(try await system.call("POST", "/v1/shipments/\(shipmentId)/dispatch", key: ana).status.code == 200)
        #expect(try await system.call("POST", "/v1/shipments/\(shipmentId)/deliver", key: admin).status.code == 200)
        let rewound = try await system.call(
            "POST",
            "/v1/admin/services/order/consumers/order.payments/rewind",
            key: ana,
            json: #"{"seq":0}"#
        )
        #expect(rewound.status.code == 200, "\(rewound.bodyText)")

        func entries(_ service: String, _ query: String = "") async throws -> [[String: Any]] {
            let page = try await system.call("GET", "/v1/admin/audit?service=\(service)&limit=1000\(query)", key: admin)
            #expect(page.status.code == 200, "\(page.bodyText)")
            return page.object["items"] as? [[String: Any]] ?? []
        }
        func has(_ list: [[String: Any]], _ actor: String, _ action: String, _ target: String) -> Bool {
            list.contains { $0["actor"] as? String == actor && $0["action"] as? String == action && $0["target"] as? String == target }
        }
        let inventory = try await entries("inventory")
        #expect(has(inventory, "operator:ana", "product.create", sku) && has(inventory, "operator:ana", "stock.set", sku))
        let sagas = try await entries("saga", "&actor=customer:alice")
        #expect(has(sagas, "customer:alice", "checkout.start", checkoutId))
        #expect(has(sagas, "customer:alice", "cancellation.start", orderId))
        #expect(sagas.allSatisfy { $0["actor"] as? String == "customer:alice" }, "the actor filter")
        let start = sagas.first { $0["target"] as? String == checkoutId }
        #expect(start?["traceId"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect((start?["requestId"] as? String ?? "").isEmpty == false)
        let shipping = try await entries("shipping", "&target=\(shipmentId)")
        #expect(
            has(shipping, "operator:ana", "shipment.dispatch", shipmentId)
                && has(shipping, "operator:admin", "shipment.deliver", shipmentId)
        )
        #expect(
            try await entries("payment").contains {
                $0["action"] as? String == "payment.refund" && $0["actor"] as? String == "service:saga"
            }
        )
        #expect(
            try await entries("order").contains { $0["action"] as? String == "consumer.rewind" && $0["actor"] as? String == "operator:ana" }
        )
        #expect(try await system.call("GET", "/v1/admin/audit?service=saga", key: alice).status.code == 403)
        #expect(try await system.call("GET", "/v1/audit-log", key: alice).status.code == 403)

        let verified = try await system.runCommand("saga", ["verify"], executable: "audit")
        #expect(verified.code == 0, "\(verified.output)")
        #expect(verified.output.contains("shipping: ") && verified.output.contains("chain intact"), "\(verified.output)")

        // Someone with the file takes the guard off and makes the delivery ana's, not the admin's.
        let file = try await Storage.open(url: DatabaseURL("sqlite://\(system.directory)/shipping.db"), poolSize: 1)
        try await file.write { try $0.executeScript("DROP TRIGGER audit_log_no_update") }
        let seq = try await file.write { connection -> Int64 in
            let row = try connection.queryOne("SELECT seq FROM audit_log WHERE action = 'shipment.deliver' AND target = $1", shipmentId)
            try connection.execute("UPDATE audit_log SET actor = 'operator:ana' WHERE seq = $1", try row!.decode("seq", as: Int64.self))
            return try row!.decode("seq")
        }
        await file.close()
        let broken = try await system.runCommand("saga", ["verify"], executable: "audit")
        #expect(broken.code == 1, "\(broken.output)")
        #expect(broken.output.contains("shipping: chain broken at entry \(seq)"), "\(broken.output)")
        let direct = try await system.runCommand(
            "saga",
            ["verify", "--database", "sqlite://\(system.directory)/shipping.db"],
            executable: "audit"
        )
        #expect(direct.code == 1 && direct.output.contains("chain broken at entry \(seq)"), "\(direct.output)")
    }
}
