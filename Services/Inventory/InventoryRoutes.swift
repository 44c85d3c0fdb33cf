import Contracts
import FoundationEssentials
import HTTP
import ServiceKit
import Storage

/// Inventory's HTTP API: the catalog, stock, and the reservation commands the saga sends.
struct InventoryRoutes {
    let database: any Database
    /// Reads that may be a little stale (the catalog list, the auditor's views): on the standby when there is
    /// one and it may serve them. A product's detail stays on the primary: the order service prices a checkout
    /// from it, and a product created a moment ago must be there.
    let reads: ConsistentReads
    /// How long a reservation holds its stock unless it is made to hold until commit (`RESERVATION_TTL`).
    let reservationTTL: TimeInterval

    func mount(on router: inout Router) {
        router.get("/v1/products") { request in
            let limit = min(max(Int(request.query["limit"] ?? "50") ?? 50, 1), 200)
            let after = request.query["after"]
            return try Response.json(try await reads.read(request) { try InventoryStore.products($0, after: after, limit: limit) })
        }
        router.get("/v1/products/{sku}") { request in
            let sku = request.parameters["sku"] ?? ""
            guard let product = try await database.read({ try InventoryStore.product($0, sku: sku) }) else {
                throw HTTPError.notFound("No product with this SKU.")
            }
            return try Response.json(product)
        }
        router.post("/v1/products") { request in
            let command = try request.decode(InventoryAPI.CreateProduct.self)
            var check = Validation()
            check.text(command.sku, "sku", max: 64, pattern: \.isIdentifierCharacter)
            check.text(command.name, "name")
            check.range(command.priceCents, "priceCents", 0...1_000_000_000)
            check.currency(command.currency, "currency")
            check.range(command.stock, "stock", 0...1_000_000_000)
            try check.validate()
            let audit = AuditContext.current
            let product = try await database.write { connection in
                let product = try mappingProblems { try InventoryStore.create(connection, command) }
                try AuditTrail.append(connection, action: "product.create", target: command.sku, context: audit)
                return product
            }
            return try Response.json(product, status: .created)
        }
        router.put("/v1/products/{sku}/stock") { request in
            let command = try request.decode(InventoryAPI.SetStock.self)
            var check = Validation()
            check.range(command.available, "available", 0...1_000_000_000)
            try check.validate()
            let sku = request.parameters["sku"] ?? ""
            let audit = AuditContext.current
            return try Response.json(
                try await database.write { connection in
                    let product = try mappingProblems { try InventoryStore.setStock(connection, sku: sku, available: command.available) }
                    try AuditTrail.append(connection, action: "stock.set", target: sku, context: audit)
                    return product
                }
            )
        }
        router.post("/v1/reservations") { request in
            let command = try request.decode(InventoryAPI.Reserve.self)
            var check = Validation()
            check.text(command.reservationId, "reservationId", max: 100)
            check.check(!command.items.isEmpty && command.items.count <= 100, "items must hold 1 to 100 lines")
            for (index, item) in command.items.enumerated() {
                check.text(item.sku, "items[\(index)].sku", max: 64)
                check.range(item.quantity, "items[\(index)].quantity", 1...1000)
            }
            try check.validate()
            let ttl = reservationTTL
            return try await database.command(request) { connection in
                try Response.json(try InventoryStore.reserve(connection, command, ttl: ttl), status: .created)
            }
        }
        router.post("/v1/reservations/{id}/release") { request in
            let id = request.parameters["id"] ?? ""
            return try await database.command(request) { try Response.json(try InventoryStore.release($0, id: id)) }
        }
        router.post("/v1/reservations/{id}/hold") { request in
            let id = request.parameters["id"] ?? ""
            return try await database.command(request) { try Response.json(try InventoryStore.hold($0, id: id)) }
        }
        router.post("/v1/reservations/{id}/commit") { request in
            let id = request.parameters["id"] ?? ""
            return try await database.command(request) { try Response.json(try InventoryStore.commit($0, id: id)) }
        }
        router.post("/v1/reservations/{id}/restock") { request in
            let id = request.parameters["id"] ?? ""
            return try await database.command(request) { try Response.json(try InventoryStore.restock($0, id: id)) }
        }
        Reconciliation.mount("/v1/reconciliation/stock", on: &router, reads: reads, key: \ReconciliationAPI.Stock.sku) {
            try InventoryStore.stock($0, after: $1, limit: $2)
        }
        Reconciliation.mountEffects(
            "/v1/reconciliation/reservations",
            on: &router,
            reads: reads,
            sql: """
                SELECT r.id, '' AS order_id, CASE WHEN s.reservation_id IS NULL THEN r.status ELSE 'RESTOCKED' END AS status,
                    CAST(COALESCE((SELECT SUM(i.quantity) FROM reservation_items i WHERE i.reservation_id = r.id), 0) AS BIGINT) AS amount,
                    NULL AS currency, r.created_at, r.updated_at
                FROM reservations r LEFT JOIN restocks s ON s.reservation_id = r.id
                WHERE r.id > $1 ORDER BY r.id LIMIT $2
                """
        )
        router.get("/v1/reservations/{id}") { request in
            let id = request.parameters["id"] ?? ""
            guard let reservation = try await database.read({ try InventoryStore.reservation($0, id: id) }) else {
                throw HTTPError.notFound("No reservation with this id.")
            }
            return try Response.json(reservation)
        }
    }

    /// Domain refusals as problem documents.
}

extension InventoryError: ProblemConvertible {
    /// How the refusal is shown to the caller.
    var problem: HTTPError {
        switch self {
        case .productExists: return HTTPError(.conflict, code: "product_exists", detail: "A product with this SKU exists.")
        case .unknownProduct(let sku): return HTTPError(.unprocessableContent, code: "unknown_sku", detail: "Unknown SKU \(sku).")
        case .outOfStock(let sku):
            return HTTPError(.conflict, code: "out_of_stock", detail: "Not enough stock for \(sku).", extra: ["sku": sku])
        case .reservationReleased: return HTTPError(.conflict, code: "reservation_released", detail: "The reservation was released.")
        case .reservationExpired:
            return HTTPError(.conflict, code: "reservation_expired", detail: "The reservation's hold ran out; its stock went back on sale.")
        case .reservationNotFound: return HTTPError(.notFound, code: "not_found", detail: "No reservation with this id.")
        case .reservationCommitted: return HTTPError(.conflict, code: "reservation_committed", detail: "The reservation is committed.")
        case .reservationNotCommitted(let status):
            return HTTPError(.conflict, code: "invalid_state", detail: "The reservation is \(status), not COMMITTED.")
        }
    }
}
