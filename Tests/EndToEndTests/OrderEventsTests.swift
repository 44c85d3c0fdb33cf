import Foundation
import HTTP
import OrderCore
import ServiceKit
import Storage
import TestSupport
import Testing

/// Event-sourced orders, their projections and the feeds they follow, on real processes: SQLite, the
/// compose layout (order on PostgreSQL) and everything on PostgreSQL.
@Suite("Order events, projections and feed consumers end to end", .serialized)
struct OrderEventsTests {
    /// Shipping's carrier events reach the order through the shipping feed: SHIPPED, then DELIVERED, in the
    /// order detail and the customer's history (newest first, by cursor).
    @Test(arguments: Layout.everyBackend)
    func dispatchAndDeliveryReachTheOrderHistory(_ layout: Layout) async throws {
        let system = try await SagaMartSystem(layout: layout)
        defer { system.stopAll() }
        let sku = uniqueSKU("SHIP")
        try await system.createProduct(sku, stock: 10)
        var orders: [[String: Any]] = []
        for _ in 0..<3 {
            let placed = try await system.checkout(checkoutBody(sku: sku))
            #expect(placed.status.code == 201, "\(placed.bodyText)")
            orders.append(placed.object)
        }
        let first = orders[0]
        let orderId = first["orderId"] as! String
        let shipmentId = first["shipmentId"] as! String

        #expect(try await system.call("POST", "/v1/shipments/\(shipmentId)/dispatch", key: admin).status.code == 200)
        #expect(try await system.eventually { try await system.order(orderId)["status"] as? String == "SHIPPED" })
        #expect(try await system.call("POST", "/v1/shipments/\(shipmentId)/deliver", key: admin).status.code == 200)
        #expect(try await system.eventually { try await system.order(orderId)["status"] as? String == "DELIVERED" })

        // The history: newest first, two per page, the cursor leading to the rest, each order once.
        let page1 = try await system.call("GET", "/v1/orders?limit=2", key: alice).object
        let items1 = page1["items"] as? [[String: Any]] ?? []
        let next = try #require(page1["next"] as? String)
        let page2 = try await system.call("GET", "/v1/orders?limit=2&after=\(next)", key: alice).object
        let items2 = page2["items"] as? [[String: Any]] ?? []
        let ids = (items1 + items2).compactMap { $0["id"] as? String }
        #expect(ids == orders.reversed().map { $0["orderId"] as! String })
        let delivered = try #require(items2.last)
        #expect(delivered["status"] as? String == "DELIVERED")
        #expect((delivered["shipment"] as? [String: Any])?["status"] as? String == "DELIVERED")
        #expect((delivered["payment"] as? [String: Any])?["status"] as? String == "CAPTURED")
        #expect((try await system.call("GET", "/v1/orders", key: bob).object["items"] as? [[String: Any]])?.isEmpty == true)

        // With payment and shipping down, the order still shows what their feeds reported.
        await system.kill("payment")
        await system.kill("shipping")
        let shown = try await system.order(orderId)
        #expect((shown["payment"] as? [String: Any])?["status"] as? String == "CAPTURED")
        #expect((shown["shipment"] as? [String: Any])?["status"] as? String == "DELIVERED")
    }

    /// Cancelling before dispatch refunds, restocks and cancels the shipment; after dispatch it is refused
    /// and changes nothing. Both are idempotent; only the owner or an admin may cancel.
    @Test(arguments: Layout.everyBackend)
    func cancellationBeforeAndAfterDispatch(_ layout: Layout) async throws {
        let system = try await SagaMartSystem(layout: layout)
        defer { system.stopAll() }
        let sku = uniqueSKU("CANCEL")
        try await system.createProduct(sku, stock: 10, priceCents: 700)

        let kept = try await system.checkout(checkoutBody(sku: sku, quantity: 3)).object
        let cancelled = try await system.checkout(checkoutBody(sku: sku, quantity: 2)).object
        let cancelledId = cancelled["orderId"] as! String
        #expect(try await system.available(sku) == 5)

        #expect(try await system.call("POST", "/v1/orders/\(cancelledId)/cancel", key: bob).status.code == 404)
        let answer = try await system.call("POST", "/v1/orders/\(cancelledId)/cancel", key: alice)
        #expect(answer.status.code == 200, "\(answer.bodyText)")
        #expect(answer.object["status"] as? String == "CANCELLED")
        #expect((answer.object["payment"] as? [String: Any])?["status"] as? String == "REFUNDED")
        #expect((answer.object["shipment"] as? [String: Any])?["status"] as? String == "CANCELLED")
        #expect(try await system.available(sku) == 7)
        // Again: the same answer, nothing restocked or refunded twice.
        let again = try await system.call("POST", "/v1/orders/\(cancelledId)/cancel", key: alice)
        #expect(again.status.code == 200)
        #expect(again.object["status"] as? String == "CANCELLED")
        #expect(try await system.available(sku) == 7)
        let sagas = try await system.call("GET", "/v1/sagas?status=COMPLETED", key: admin).object["items"] as? [[String: Any]] ?? []
        let cancellation = try #require(sagas.first { $0["kind"] as? String == "cancellation" && $0["orderId"] as? String == cancelledId })
        #expect(
            (cancellation["steps"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
                == ["shipping.cancel", "payment.refund", "inventory.restock", "order.cancel"]
        )
        let metrics = try await system.client.get(system.url("saga") + "/metrics").bodyText
        #expect(metrics.contains(#"sagas_finished_total{kind="cancellation",status="COMPLETED"} 1"#), "\(metrics)")
        // The refund reached the order through the payment feed too.
        #expect(
            try await system.eventually {
                let view = try await system.service("order", "GET", "/v1/orders/\(cancelledId)").object
                return (view["payment"] as? [String: Any])?["status"] as? String == "REFUNDED"
            }
        )

        // After dispatch: refused through the gateway and through the saga itself (the path a cancel takes
        // when the order has not heard of the dispatch yet); stock and payment stay.
        let keptId = kept["orderId"] as! String
        #expect(try await system.call("POST", "/v1/shipments/\(kept["shipmentId"] as! String)/dispatch", key: admin).status.code == 200)
        let refused = try await system.call("POST", "/v1/orders/\(keptId)/cancel", key: alice)
        #expect(refused.status.code == 409)
        #expect(refused.object["code"] as? String == "already_dispatched")
        let direct = try await system.service("saga", "POST", "/v1/cancellations?waitMs=10000", json: #"{"orderId":"\#(keptId)"}"#)
        #expect(direct.object["status"] as? String == "COMPENSATED")
        #expect(direct.object["failureCode"] as? String == "already_dispatched")
        #expect(try await system.available(sku) == 7)
        #expect(try await system.eventually { try await system.order(keptId)["status"] as? String == "SHIPPED" })
        #expect((try await system.order(keptId)["payment"] as? [String: Any])?["status"] as? String == "CAPTURED")

        // A rejected order cannot be cancelled.
        let declined = try await system.checkout(checkoutBody(sku: sku, card: "4000000000000002")).object
        let rejected = try await system.call("POST", "/v1/orders/\(declined["orderId"] as! String)/cancel", key: alice)
        #expect(rejected.status.code == 409)
        #expect(rejected.object["code"] as? String == "invalid_state")
        try await system.checkInvariants(sku: sku, initialStock: 10, priceCents: 700)
    }

    /// A cancellation in flight when the saga service is killed finishes after the restart, each effect once.
    @Test(arguments: [Layout.sqlite] + (PostgresCluster.isAvailable ? [Layout.postgres] : []))
    func aCancellationResumesAfterTheSagaServiceIsKilled(_ layout: Layout) async throws {
        let system = try await SagaMartSystem(layout: layout, overrides: ["payment": delayedCommands("1s")])
        defer { system.stopAll() }
        let sku = uniqueSKU("RESUME")
        try await system.createProduct(sku, stock: 4)
        let placed = try await system.checkout(checkoutBody(sku: sku, quantity: 2)).object
        let orderId = try #require(placed["orderId"] as? String)
        let paymentId = try #require(placed["paymentId"] as? String)
        #expect(try await system.available(sku) == 2)

        let started = try await system.call("POST", "/v1/orders/\(orderId)/cancel", key: alice, headers: [("Prefer", "respond-async")])
        #expect(started.status.code == 202, "\(started.bodyText)")
        #expect(started.headers["Location"] == "/v1/orders/\(orderId)")
        // The refund is held a second at payment: kill the saga service while it waits.
        try await Task.sleep(for: .milliseconds(400))
        await system.kill("saga")
        try system.start("saga")
        try await system.waitReady("saga")
        #expect(try await system.eventually(.seconds(30)) { try await system.order(orderId)["status"] as? String == "CANCELLED" })
        #expect(try await system.available(sku) == 4)
        let feed = try await system.service("payment", "GET", "/v1/events?after=0&limit=1000").object["items"] as? [[String: Any]] ?? []
        let refunds = feed.filter {
            ($0["data"] as? [String: Any])?["paymentId"] as? String == paymentId
                && ($0["data"] as? [String: Any])?["status"] as? String == "REFUNDED"
        }
        #expect(refunds.count == 1)
        try await system.checkInvariants(sku: sku, initialStock: 4, priceCents: 1000)
    }

    /// The order service's consumers: a replay from zero changes nothing; kill -9 between applying an event
    /// and committing its cursor loses and doubles nothing. Then the projections equal a rebuild, and a
    /// stored v1 event is upcast.
    @Test(arguments: Layout.everyBackend)
    func consumersReplayAndSurviveKillAndProjectionsRebuild(_ layout: Layout) async throws {
        let system = try await SagaMartSystem(layout: layout, overrides: ["order": ["FEED_WAIT_SECONDS": "1"]])
        defer { system.stopAll() }
        let sku = uniqueSKU("FEED")
        try await system.createProduct(sku, stock: 10)
        let placed = try await system.checkout(checkoutBody(sku: sku)).object
        let orderId = placed["orderId"] as! String
        let shipmentId = placed["shipmentId"] as! String
        _ = try await system.checkout(checkoutBody(sku: sku, card: "4000000000000002"))
        #expect(try await system.call("POST", "/v1/shipments/\(shipmentId)/dispatch", key: admin).status.code == 200)
        #expect(try await system.eventually { try await system.order(orderId)["status"] as? String == "SHIPPED" })
        try await waitUntilCaughtUp(system)
        let streamBefore = try await events(system, orderId)
        let viewsBefore = try await system.service("order", "GET", "/v1/orders?limit=200").bodyText

        // Replay both feeds from zero: every event is seen again and changes nothing.
        // (one through the service itself, one as an operator through the gateway with the admin key)
        let direct = try await system.service(
            "order",
            "POST",
            "/v1/admin/consumers/\(OrderFeeds.paymentConsumer)/rewind",
            json: #"{"seq":0}"#
        )
        #expect(direct.object["seq"] as? Int == 0)
        let rewind = "/v1/admin/services/order/consumers/\(OrderFeeds.shippingConsumer)/rewind"
        #expect(try await system.call("POST", rewind, key: alice, json: #"{"seq":0}"#).status.code == 403)
        let operated = try await system.call("POST", rewind, key: admin, json: #"{"seq":0}"#)
        #expect(operated.object["seq"] as? Int == 0, "\(operated.bodyText)")
        #expect(try await system.call("POST", rewind, key: admin, json: #"{"seq":-1}"#).status.code == 422)
        try await waitUntilCaughtUp(system)
        #expect(try await events(system, orderId) == streamBefore)
        let letters = try await system.call(
            "GET",
            "/v1/admin/services/order/consumers/\(OrderFeeds.paymentConsumer)/dead-letters",
            key: admin
        )
        #expect((letters.object["items"] as? [Any])?.isEmpty == true)
        let path = "/v1/admin/consumers/\(OrderFeeds.paymentConsumer)/dead-letters/none/redrive"
        #expect(try await system.service("order", "POST", path).status.code == 404)
        #expect(try await system.service("order", "GET", "/v1/admin/consumers/nobody").status.code == 404)
        #expect(try await system.service("order", "GET", "/v1/orders?limit=200").bodyText == viewsBefore)

        // A crash (as kill -9) inside the transaction that applies the delivery: effect written, cursor not yet.
        system.setEnvironment("order", "FAULT_INJECTION", "on")
        system.setEnvironment("order", "FAULTS", "consumer.after_apply@shipments:crash:n=1")
        await system.kill("order")
        try system.start("order")
        try await system.waitReady("order")
        #expect(try await system.call("POST", "/v1/shipments/\(shipmentId)/deliver", key: admin).status.code == 200)
        #expect(try await system.eventually { !system.isRunning("order") })
        #expect(system.output("order").contains("fault injection: crash at consumer.after_apply"))
        system.setEnvironment("order", "FAULTS", nil)
        await system.kill("order")
        try system.start("order")
        try await system.waitReady("order")
        #expect(try await system.eventually { try await system.order(orderId)["status"] as? String == "DELIVERED" })
        try await waitUntilCaughtUp(system)
        let stream = try await events(system, orderId)
        #expect(stream.filter { $0 == "order.shipment_changed:DELIVERED" }.count == 1)
        #expect(Array(stream.prefix(streamBefore.count)) == streamBefore)

        // The projections equal a rebuild from the streams; a v1 `order.created` stored beside them is upcast.
        let database = try await Storage.open(url: try DatabaseURL(system.environment(of: "order")["DATABASE_URL"]!), poolSize: 1)
        let legacyId = "0000legacy-" + UUID().uuidString.lowercased()
        try await database.write { connection in
            try connection.execute(
                """
                INSERT INTO order_events (order_id, version, event_id, type, schema_version, data, occurred_at)
                VALUES ($1, 1, $2, 'order.created', 1, $3, '2025-01-02T03:04:05.000000Z'),
                       ($1, 2, $4, 'order.approved', 1, '{}', '2025-01-02T03:04:06.000000Z')
                """,
                legacyId,
                UUID().uuidString,
                #"{"customerId":"alice","checkoutId":"legacy-checkout","items":[{"sku":"LEGACY","quantity":2,"priceCents":1250}]}"#,
                UUID().uuidString
            )
        }
        let projected = try await database.read { try OrderProjection.dump($0) }
        let rebuild = try await system.runCommand("order", ["rebuild-projections"])
        #expect(rebuild.code == 0, "\(rebuild.output)")
        #expect(rebuild.output.contains("rebuilt order_view: \(projected.count + 1) orders"))
        let rebuilt = try await database.read { try OrderProjection.dump($0) }
        await database.close()
        #expect(rebuilt.filter { $0.id != legacyId } == projected)
        let legacy = try #require(rebuilt.first { $0.id == legacyId })
        #expect(legacy.status == .approved)
        #expect(legacy.totalCents == 2500)
        #expect(legacy.currency == "EUR")
        #expect(legacy.items.first?.unitPriceCents == 1250)
        let shown = try await system.call("GET", "/v1/orders/\(legacyId)", key: alice)
        #expect(shown.status.code == 200)
        #expect(shown.object["totalCents"] as? Int == 2500)
        let legacyEvents = try await system.service("order", "GET", "/v1/orders/\(legacyId)/events").object["items"] as? [[String: Any]]
        #expect(legacyEvents?.first?["storedSchemaVersion"] as? Int == 1)
        #expect(legacyEvents?.first?["schemaVersion"] as? Int == 2)
        #expect((legacyEvents?.first?["data"] as? [String: Any])?["currency"] as? String == "EUR")
    }

    /// The order's stream as `type:status` words (status of the payment or shipment where there is one).
    private func events(_ system: SagaMartSystem, _ orderId: String) async throws -> [String] {
        let items = try await system.service("order", "GET", "/v1/orders/\(orderId)/events").object["items"] as? [[String: Any]] ?? []
        return items.map { item in
            let status = (item["data"] as? [String: Any])?["status"] as? String
            return (item["type"] as? String ?? "?") + (status.map { ":\($0)" } ?? "")
        }
    }

    /// Waits until both consumers' cursors stand at the heads of the payment and shipping feeds, with one
    /// inbox entry per feed event (nothing skipped, nothing counted twice).
    private func waitUntilCaughtUp(_ system: SagaMartSystem) async throws {
        for (consumer, feed) in [(OrderFeeds.paymentConsumer, "payment"), (OrderFeeds.shippingConsumer, "shipping")] {
            let events = try await system.service(feed, "GET", "/v1/events?after=0&limit=1000").object["items"] as? [[String: Any]] ?? []
            let head = events.last?["seq"] as? Int ?? 0
            var status: [String: Any] = [:]
            let caughtUp = try await system.eventually {
                status = try await system.service("order", "GET", "/v1/admin/consumers/\(consumer)").object
                return status["seq"] as? Int == head
            }
            #expect(caughtUp, "\(consumer) stopped at \(status), feed head \(head)")
            #expect(status["consumed"] as? Int == events.count)
            #expect(status["deadLetters"] as? Int == 0)
        }
    }
}
