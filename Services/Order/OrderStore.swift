import Contracts
import Foundation
import Storage

/// Why the order service refused a command.
enum OrderError: Error, Equatable {
    case notFound
    case rejected
    case notPending(String)
}

/// Orders in SQL; each function runs inside the caller's transaction.
enum OrderStore {
    /// Creates a PENDING order with the prices given (looked up from the catalog by the route).
    /// An order id that was rejected first (a compensation that overtook its action) stays rejected.
    static func create(
        _ connection: DatabaseConnection,
        _ command: OrderAPI.Create,
        lines: [OrderAPI.Line],
        currency: String
    ) throws
        -> OrderAPI.Order
    {
        if let existing = try order(connection, id: command.orderId) {
            if existing.status == "REJECTED" { throw OrderError.rejected }
            return existing
        }
        let now = Date()
        let total = lines.reduce(Int64(0)) { $0 + $1.unitPriceCents * $1.quantity }
        try connection.execute(
            """
            INSERT INTO orders (id, customer_id, checkout_id, status, reason, total_cents, currency, created_at, updated_at)
            VALUES ($1, $2, $3, 'PENDING', NULL, $4, $5, $6, $6)
            """,
            command.orderId,
            command.customerId,
            command.checkoutId,
            total,
            currency,
            now
        )
        for line in lines {
            try connection.execute(
                "INSERT INTO order_items (order_id, sku, quantity, unit_price_cents) VALUES ($1, $2, $3, $4)",
                command.orderId,
                line.sku,
                line.quantity,
                line.unitPriceCents
            )
        }
        return try order(connection, id: command.orderId)!
    }

    static func approve(_ connection: DatabaseConnection, id: String) throws -> OrderAPI.Order {
        guard let existing = try order(connection, id: id) else { throw OrderError.notFound }
        switch existing.status {
        case "APPROVED": return existing
        case "PENDING": break
        default: throw OrderError.notPending(existing.status)
        }
        try connection.execute("UPDATE orders SET status = 'APPROVED', updated_at = $1 WHERE id = $2", Date(), id)
        return try order(connection, id: id)!
    }

    /// Rejects a PENDING order; rejecting an unknown id records a rejected placeholder and succeeds.
    static func reject(_ connection: DatabaseConnection, id: String, reason: String) throws -> OrderAPI.Order {
        let now = Date()
        guard let existing = try order(connection, id: id) else {
            try connection.execute(
                """
                INSERT INTO orders (id, customer_id, checkout_id, status, reason, total_cents, currency, created_at, updated_at)
                VALUES ($1, '', '', 'REJECTED', $2, 0, 'XXX', $3, $3)
                """,
                id,
                reason,
                now
            )
            return try order(connection, id: id)!
        }
        switch existing.status {
        case "REJECTED": return existing
        case "PENDING": break
        default: throw OrderError.notPending(existing.status)
        }
        try connection.execute("UPDATE orders SET status = 'REJECTED', reason = $1, updated_at = $2 WHERE id = $3", reason, now, id)
        return try order(connection, id: id)!
    }

    static func order(_ connection: DatabaseConnection, id: String) throws -> OrderAPI.Order? {
        guard let row = try connection.queryOne("SELECT * FROM orders WHERE id = $1", id) else { return nil }
        return try order(from: row, connection: connection)
    }

    static func orders(_ connection: DatabaseConnection, customerId: String?, after: String?, limit: Int) throws -> Page<OrderAPI.Order> {
        let rows: [Row]
        if let customerId {
            rows = try connection.query(
                "SELECT * FROM orders WHERE customer_id = $1 AND id > $2 AND customer_id <> '' ORDER BY id LIMIT $3",
                customerId,
                after ?? "",
                limit + 1
            )
        } else {
            rows = try connection.query(
                "SELECT * FROM orders WHERE id > $1 AND customer_id <> '' ORDER BY id LIMIT $2",
                after ?? "",
                limit + 1
            )
        }
        let items = try rows.prefix(limit).map { try order(from: $0, connection: connection) }
        return Page(items: items, next: rows.count > limit ? items.last?.id : nil)
    }

    private static func order(from row: Row, connection: DatabaseConnection) throws -> OrderAPI.Order {
        let id: String = try row.decode("id")
        let lines = try connection.query("SELECT sku, quantity, unit_price_cents FROM order_items WHERE order_id = $1 ORDER BY sku", id).map
        {
            OrderAPI.Line(sku: try $0.decode("sku"), quantity: try $0.decode("quantity"), unitPriceCents: try $0.decode("unit_price_cents"))
        }
        let created: Date = try row.decode("created_at")
        return OrderAPI.Order(
            id: id,
            customerId: try row.decode("customer_id"),
            checkoutId: try row.decode("checkout_id"),
            status: try row.decode("status"),
            reason: try row.decode("reason", as: String?.self),
            items: lines,
            totalCents: try row.decode("total_cents"),
            currency: try row.decode("currency"),
            createdAt: Timestamp.format(created)
        )
    }
}
