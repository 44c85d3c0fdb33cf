import Contracts
import FoundationEssentials
import HTTP
import OrderCore
import ServiceKit
import Storage

/// The order service's HTTP API. Commands load the order's stream, decide, and append (retried on a
/// concurrent append); queries read the projected views.
struct OrderRoutes {
    /// The order databases, and which owns each customer's bucket.
    let shards: OrderShards
    let runtime: ServiceRuntime
    let inventoryURL: String
    /// Prices read from the catalog (immutable per SKU): read once per SKU, not for every order.
    let prices: CatalogPrices
    /// The fraud screen's rule (checkout saga version 2): an order above this total from a customer with no
    /// approved order before is refused `fraud_suspected` (`FRAUD_REVIEW_CENTS`).
    let fraudReviewCents: Int64

    func mount(on router: inout Router) {
        router.post("/v1/orders") { request in
            let command = try request.decode(OrderAPI.Create.self)
            var check = Validation()
            check.text(command.orderId, "orderId", max: 100)
            check.text(command.customerId, "customerId", max: 100)
            check.text(command.checkoutId, "checkoutId", max: 100)
            check.check(!command.items.isEmpty && command.items.count <= 100, "items must hold 1 to 100 lines")
            for (index, item) in command.items.enumerated() {
                check.text(item.sku, "items[\(index)].sku", max: 64)
                check.range(item.quantity, "items[\(index)].quantity", 1...1000)
            }
            let bucket = OrderBuckets.bucket(customerId: command.customerId)
            if shards.count > 1, let hint = OrderBuckets.hint(orderId: command.orderId) {
                // With several shards an order must live where its id points, or a command naming only the
                // id would look for it in the wrong place.
                check.check(hint == bucket, "orderId must carry its customer's bucket (OrderBuckets.orderId)")
            }
            try check.validate()
            let key = try Idempotency.key(of: request)
            // Prices come from the catalog, read before the transaction (no network inside one).
            let priced = try await price(command.items)
            let body = request.body
            let screenBelow = command.screen == true ? fraudReviewCents : nil
            return try await OrderEventStore.retryingConflicts {
                try await shards.write(bucket: bucket) { connection in
                    try Self.perform(connection, key: key, body: body, bucket: bucket) {
                        guard case .success(let lines, let currency) = priced else {
                            if case .unknown(let sku) = priced {
                                throw HTTPError(
                                    .unprocessableContent,
                                    code: "unknown_sku",
                                    detail: "Unknown SKU \(sku).",
                                    extra: ["sku": sku]
                                )
                            }
                            throw HTTPError(
                                .unprocessableContent,
                                code: "mixed_currencies",
                                detail: "Items are priced in different currencies."
                            )
                        }
                        if let limit = screenBelow {
                            try Self.screen(
                                connection,
                                orderId: command.orderId,
                                customerId: command.customerId,
                                totalCents: lines.reduce(0) { $0 + $1.unitPriceCents * Int64($1.quantity) },
                                limit: limit
                            )
                        }
                        let order = try mappingProblems {
                            try OrderEventStore.execute(connection, id: command.orderId) {
                                try $0.create(
                                    customerId: command.customerId,
                                    checkoutId: command.checkoutId,
                                    lines: lines,
                                    currency: currency
                                )
                            }
                        }
                        return try Response.json(order.view, status: .created)
                    }
                }
            }
        }
        router.post("/v1/orders/{id}/screen") { request in
            let id = request.parameters["id"] ?? ""
            let limit = fraudReviewCents
            // The bucket the saga stamped into the id (only the saga screens, and only its own orders).
            let bucket = OrderBuckets.bucket(orderId: id, customerId: "")
            // On the primary (a write transaction that only reads): the order was created a moment ago.
            let verdict = try await shards.write(bucket: bucket) { connection -> OrderAPI.Screening in
                let order = try OrderEventStore.load(connection, id: id)
                guard order.exists else { throw HTTPError.notFound("No order with this id.") }
                try Self.screen(connection, orderId: id, customerId: order.customerId, totalCents: order.totalCents, limit: limit)
                return OrderAPI.Screening(orderId: id, verdict: "passed")
            }
            return try Response.json(verdict)
        }
        router.post("/v1/orders/{id}/approve") { request in
            let approve =
                request.body.isEmpty ? OrderAPI.Approve(paymentId: nil, shipmentId: nil) : try request.decode(OrderAPI.Approve.self)
            return try await command(request) { try $0.approve(paymentId: approve.paymentId, shipmentId: approve.shipmentId) }
        }
        router.post("/v1/orders/{id}/reject") { request in
            let reject = try request.decode(OrderAPI.Reject.self)
            return try await command(request) { try $0.reject(reason: reject.reason) }
        }
        router.post("/v1/orders/{id}/cancel") { request in
            let cancel = request.body.isEmpty ? OrderAPI.Cancel(reason: "cancelled") : try request.decode(OrderAPI.Cancel.self)
            var check = Validation()
            check.text(cancel.reason, "reason", max: 200)
            try check.validate()
            return try await command(request) { try $0.cancel(reason: cancel.reason) }
        }
        router.get("/v1/orders/{id}") { request in
            let id = request.parameters["id"] ?? ""
            let token = Self.positions(request)
            // Where the id points first (every order the saga made is there), else wherever it is.
            let stamped = OrderBuckets.bucket(orderId: id, customerId: "")
            var order = try await shards.read(bucket: stamped, token: token) { try OrderProjection.order($0, id: id) }
            if order.map({ OrderBuckets.bucket(orderId: $0.id, customerId: $0.customerId) }) != stamped {
                order = nil
                if let bucket = try await shards.locate(orderId: id) {
                    order = try await shards.read(bucket: bucket, token: token) { try OrderProjection.order($0, id: id) }
                }
            }
            guard let order else { throw HTTPError.notFound("No order with this id.") }
            return try Response.json(order)
        }
        router.get("/v1/orders/{id}/events") { request in
            let id = request.parameters["id"] ?? ""
            guard let bucket = try await shards.locate(orderId: id) else { throw HTTPError.notFound("No order with this id.") }
            let events = try await shards.read(bucket: bucket, token: Self.positions(request)) { try OrderEventStore.history($0, id: id) }
            guard !events.isEmpty else { throw HTTPError.notFound("No order with this id.") }
            let items = events.map { event in
                "{\"version\":\(event.version),\"type\":\(JSONText.quote(event.type)),\"schemaVersion\":\(event.schemaVersion),"
                    + "\"storedSchemaVersion\":\(event.storedSchemaVersion),\"occurredAt\":\(JSONText.quote(event.occurredAt)),"
                    + "\"data\":\(event.data)}"
            }
            return Response.json(text: Array(("{\"items\":[" + items.joined(separator: ",") + "]}").utf8))
        }
        Reconciliation.mount("/v1/reconciliation/orders", on: &router, key: \ReconciliationAPI.Order.id) { request, after, limit in
            // Every shard's page, merged by id (a bucket caught between its two shards counts once).
            let pages = try await shards.gather(token: Self.positions(request)) {
                try Self.reconciliationOrders($0, after: after, limit: limit)
            }
            return Self.merge(pages, by: \.id, limit: limit, <)
        }
        router.get("/v1/orders") { request in
            let limit = min(max(Int(request.query["limit"] ?? "50") ?? 50, 1), 200)
            let customer = request.query["customerId"]
            let after = request.query["after"]
            if let customer {
                let bucket = OrderBuckets.bucket(customerId: customer)
                return try Response.json(
                    try await shards.read(bucket: bucket, token: Self.positions(request)) {
                        try OrderProjection.history($0, customerId: customer, after: after, limit: limit)
                    }
                )
            }
            // Everyone's orders: each shard's newest page after the cursor, merged newest first. The cursor
            // is an order id, so it stays valid when shards are added or buckets move.
            let pages = try await shards.gather(token: Self.positions(request)) {
                try OrderProjection.history($0, customerId: nil, after: after, limit: limit)
            }
            let merged = Self.merge(pages.map(\.items), by: \.id, limit: limit + 1, >)
            let items = Array(merged.prefix(limit))
            let more = merged.count > limit || pages.contains { $0.next != nil }
            return try Response.json(Page(items: items, next: more ? items.last?.id : nil))
        }
    }

    /// The shards' positions in the request's consistency token (read-your-writes on their standbys).
    static func positions(_ request: Request) -> @Sendable (Int) -> String? {
        let header = request.headers[ConsistentReads.header]
        return { ConsistentReads.position(of: OrderShards.tokenName(shard: $0), in: header) }
    }

    /// Merges pages sorted by `key` (in `order`), dropping repeated keys, and keeps the first `limit`.
    static func merge<T>(_ pages: [[T]], by key: (T) -> String, limit: Int, _ order: (String, String) -> Bool) -> [T] {
        var seen = Set<String>()
        return Array(
            pages.joined().sorted { order(key($0), key($1)) }.filter { seen.insert(key($0)).inserted }.prefix(limit)
        )
    }

    /// The auditor's view of orders on one shard, after the cursor, in id order (the buckets it serves).
    static func reconciliationOrders(_ connection: DatabaseConnection, after: String, limit: Int) throws -> [ReconciliationAPI.Order] {
        try connection.query(
            """
            SELECT id, customer_id, checkout_id, status, reason, total_cents, currency, created_at, updated_at
            FROM order_view WHERE id > $1 AND \(OrderShards.servedHere)
            ORDER BY id LIMIT $2
            """,
            [.text(after), .integer(Int64(limit))]
        ).map { row in
            ReconciliationAPI.Order(
                id: try row.decode("id"),
                customerId: try row.decode("customer_id"),
                checkoutId: try row.decode("checkout_id"),
                status: try row.decode("status"),
                reason: try row.decode("reason", as: String?.self),
                totalCents: try row.decode("total_cents"),
                currency: try row.decode("currency"),
                createdAt: try row.decode("created_at"),
                updatedAt: try row.decode("updated_at")
            )
        }
    }

    /// `Idempotency.perform`, with the record tagged by the bucket so that it moves with the customer's orders.
    static func perform(
        _ connection: DatabaseConnection,
        key: String,
        body: [UInt8],
        bucket: Int,
        _ effect: () throws -> Response
    ) throws -> Response {
        try Idempotency.perform(connection, key: key, body: body, bucket: bucket, effect)
    }

    /// A saga command on one order: once per idempotency key, on the order's current stream, retried when
    /// another writer appended meanwhile.
    private func command(_ request: Request, _ decide: @escaping @Sendable (OrderAggregate) throws -> [OrderEvent]) async throws -> Response
    {
        let id = request.parameters["id"] ?? ""
        let key = try Idempotency.key(of: request)
        let body = request.body
        // The bucket the id points to (the saga stamps it): right for every order the saga made, so the
        // command needs no lookup first. An order found elsewhere, or in another bucket, is looked up.
        let stamped = OrderBuckets.bucket(orderId: id, customerId: "")
        func run(_ bucket: Int, lookedUp: Bool) async throws -> Response {
            try await shards.write(bucket: bucket) { connection in
                try Self.perform(connection, key: key, body: body, bucket: bucket) {
                    let order = try OrderEventStore.load(connection, id: id)
                    if !lookedUp && (order.exists ? order.bucket != bucket : shards.count > 1) { throw OrderElsewhere() }
                    let decided = try mappingProblems { try decide(order) }
                    return try Response.json(try OrderEventStore.append(connection, to: order, decided, now: Date()).view)
                }
            }
        }
        return try await OrderEventStore.retryingConflicts {
            do {
                return try await run(stamped, lookedUp: false)
            } catch is OrderElsewhere {
                return try await run(try await shards.locate(orderId: id) ?? stamped, lookedUp: true)
            }
        }
    }

    /// The order is not in the bucket its id points to (an id the saga did not make): look it up.
    private struct OrderElsewhere: Error {}

    private enum Pricing: Sendable {
        case success([OrderAPI.Line], String)
        case unknown(String)
        case mixedCurrencies
    }

    /// Looks each SKU up in the inventory catalog. A catalog that cannot be reached is a technical failure (503).
    private func price(_ items: [Item]) async throws -> Pricing {
        var merged: [String: Int64] = [:]
        for item in items { merged[item.sku, default: 0] += item.quantity }
        var lines: [OrderAPI.Line] = []
        var currencies = Set<String>()
        for (sku, quantity) in merged.sorted(by: { $0.key < $1.key }) {
            if let known = prices.price(of: sku) {
                currencies.insert(known.currency)
                lines.append(OrderAPI.Line(sku: sku, quantity: quantity, unitPriceCents: known.cents))
                continue
            }
            let escaped = pathSegment(sku)
            let response: Response
            do {
                response = try await runtime.client.get(
                    "\(inventoryURL)/v1/products/\(escaped)",
                    headers: runtime.authenticator.authorization(for: "inventory")
                )
            } catch {
                throw HTTPError(.serviceUnavailable, code: "service_unavailable", detail: "The catalog is unavailable.")
            }
            if response.status.code == 404 { return .unknown(sku) }
            guard response.status.code == 200, let product = try? response.decode(InventoryAPI.Product.self) else {
                throw HTTPError(.serviceUnavailable, code: "service_unavailable", detail: "The catalog is unavailable.")
            }
            prices.remember(CatalogPrices.Price(cents: product.priceCents, currency: product.currency), of: sku)
            currencies.insert(product.currency)
            lines.append(OrderAPI.Line(sku: sku, quantity: quantity, unitPriceCents: product.priceCents))
        }
        guard currencies.count == 1, let currency = currencies.first else { return .mixedCurrencies }
        return .success(lines, currency)
    }
}

extension OrderError: ProblemConvertible {
    /// How the refusal is shown to the caller.
    public var problem: HTTPError {
        switch self {
        case .notFound: return HTTPError.notFound("No order with this id.")
        case .rejected: return HTTPError(.conflict, code: "order_rejected", detail: "The order was rejected.")
        case .invalidState(let status): return HTTPError(.conflict, code: "invalid_state", detail: "The order is \(status).")
        case .alreadyShipped: return HTTPError(.conflict, code: "already_dispatched", detail: "The order's shipment has left.")
        case .unknownEvent: return HTTPError.internal
        }
    }
}

extension OrderRoutes {
    /// The fraud screen's rule: an order above `limit` cents from a customer with no approved order before
    /// is refused `422 fraud_suspected` (held for review). Version 2 of the checkout screens an order after
    /// creating it (`POST /v1/orders/{id}/screen`); version 3 screens it in its creation.
    static func screen(_ connection: DatabaseConnection, orderId: String, customerId: String, totalCents: Int64, limit: Int64) throws {
        guard totalCents > limit else { return }
        let approvedBefore =
            try connection.queryOne(
                """
                SELECT COUNT(*) AS n FROM order_view
                WHERE customer_id = $1 AND id <> $2 AND status IN ('APPROVED', 'SHIPPED', 'DELIVERED', 'CANCELLED')
                """,
                customerId,
                orderId
            )?.decode("n", as: Int64.self) ?? 0
        guard approvedBefore > 0 else {
            throw HTTPError(
                .unprocessableContent,
                code: "fraud_suspected",
                detail: "A first order above \(limit) cents is held for review.",
                extra: ["orderId": orderId]
            )
        }
    }
}
