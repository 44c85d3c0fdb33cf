import Contracts
import Foundation
import HTTP
import OrderCore
import ServiceKit
import Storage

/// The order service's HTTP API. Commands load the order's stream, decide, and append (retried on a
/// concurrent append); queries read the projected views.
struct OrderRoutes {
    let database: any Database
    /// The views' reads: on the standby when there is one and it may serve them.
    let reads: ConsistentReads
    let runtime: ServiceRuntime
    let inventoryURL: String

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
            try check.validate()
            let key = try Idempotency.key(of: request)
            // Prices come from the catalog, read before the transaction (no network inside one).
            let priced = try await price(command.items)
            let body = request.body
            return try await OrderEventStore.retryingConflicts {
                try await database.write { connection in
                    try Idempotency.perform(connection, key: key, body: body) {
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
            guard let order = try await reads.read(request, { try OrderProjection.order($0, id: id) }) else {
                throw HTTPError.notFound("No order with this id.")
            }
            return try Response.json(order)
        }
        router.get("/v1/orders/{id}/events") { request in
            let id = request.parameters["id"] ?? ""
            let events = try await database.read { try OrderEventStore.history($0, id: id) }
            guard !events.isEmpty else { throw HTTPError.notFound("No order with this id.") }
            let items = events.map { event in
                "{\"version\":\(event.version),\"type\":\(JSONText.quote(event.type)),\"schemaVersion\":\(event.schemaVersion),"
                    + "\"storedSchemaVersion\":\(event.storedSchemaVersion),\"occurredAt\":\(JSONText.quote(event.occurredAt)),"
                    + "\"data\":\(event.data)}"
            }
            return Response(
                status: .ok,
                headers: HTTPHeaders([("Content-Type", "application/json")]),
                body: Array(("{\"items\":[" + items.joined(separator: ",") + "]}").utf8)
            )
        }
        Reconciliation.mount("/v1/reconciliation/orders", on: &router, database: database, key: \ReconciliationAPI.Order.id) {
            connection,
            after,
            limit in
            try connection.query(
                """
                SELECT id, customer_id, checkout_id, status, reason, total_cents, currency, created_at, updated_at
                FROM order_view WHERE id > $1 ORDER BY id LIMIT $2
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
        router.get("/v1/orders") { request in
            let limit = min(max(Int(request.query["limit"] ?? "50") ?? 50, 1), 200)
            let customer = request.query["customerId"]
            let after = request.query["after"]
            return try Response.json(
                try await reads.read(request) { try OrderProjection.history($0, customerId: customer, after: after, limit: limit) }
            )
        }
    }

    /// A saga command on one order: once per idempotency key, on the order's current stream, retried when
    /// another writer appended meanwhile.
    private func command(_ request: Request, _ decide: @escaping @Sendable (OrderAggregate) throws -> [OrderEvent]) async throws -> Response
    {
        let id = request.parameters["id"] ?? ""
        return try await OrderEventStore.retryingConflicts {
            try await database.command(request) { connection in
                try Response.json(try mappingProblems { try OrderEventStore.execute(connection, id: id, decide) }.view)
            }
        }
    }

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
            let escaped =
                sku.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? sku
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
