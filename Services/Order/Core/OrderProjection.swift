import Contracts
import FoundationEssentials
import HTTP
import Messaging
import Storage

/// The read models of orders, kept by projecting the order streams: `order_view` holds each order's detail
/// (with the payment and shipment statuses the feeds reported), and its `(customer_id, id)` index is a
/// customer's order history, newest first, paginated by cursor.
///
/// A projection is a function of the events only (times come from the events, never from the clock), so
/// `rebuild` from the streams gives the same rows as the updates made along the way.
public enum OrderProjection {
    /// Bumped when the shape or meaning of the views changes: a service that finds an older version stored
    /// rebuilds the views at start.
    public static let version = 1
    static let name = "order_view"

    /// Writes the order's row from its state after new events (inside the appending transaction).
    ///
    /// `existed`: the order had events before these, so its row is there and only what events after the
    /// first can change is written (status, reason, payment, shipment, version, updated_at), none of it
    /// indexed: the row's page is the only one changed. The full upsert would also delete and insert the
    /// row's entries in `order_history` and `order_view_by_bucket` (SQLite rewrites the entries of every
    /// index whose columns are assigned, changed or not), and encode the lines again. A row not found
    /// (views being rebuilt, a bucket copied in) gets the full upsert.
    static func update(_ connection: DatabaseConnection, with order: OrderAggregate, existed: Bool = false) throws {
        if existed {
            let changed = try connection.execute(
                """
                UPDATE order_view SET status = $2, reason = $3, payment_id = $4, payment_status = $5, shipment_id = $6,
                    shipment_status = $7, version = $8, updated_at = $9
                WHERE id = $1
                """,
                [
                    .text(order.id), .text(order.status.rawValue), order.reason.databaseValue,
                    order.payment?.id.databaseValue ?? .null, order.payment?.status.databaseValue ?? .null,
                    order.shipment?.id.databaseValue ?? .null, order.shipment?.status.databaseValue ?? .null,
                    .integer(Int64(order.version)), .text(order.updatedAt),
                ]
            )
            if changed == 1 { return }
        }
        let items = String(decoding: try JSON.encode(order.lines), as: UTF8.self)
        try connection.execute(
            """
            INSERT INTO order_view (id, customer_id, checkout_id, status, reason, items, total_cents, currency, payment_id,
                payment_status, shipment_id, shipment_status, version, created_at, updated_at, bucket)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, checkout_id = excluded.checkout_id,
                status = excluded.status, reason = excluded.reason, items = excluded.items, total_cents = excluded.total_cents,
                currency = excluded.currency, payment_id = excluded.payment_id, payment_status = excluded.payment_status,
                shipment_id = excluded.shipment_id, shipment_status = excluded.shipment_status, version = excluded.version,
                created_at = excluded.created_at, updated_at = excluded.updated_at, bucket = excluded.bucket
            """,
            [
                .text(order.id), .text(order.customerId), .text(order.checkoutId), .text(order.status.rawValue), order.reason.databaseValue,
                .text(items), .integer(order.totalCents), .text(order.currency), order.payment?.id.databaseValue ?? .null,
                order.payment?.status.databaseValue ?? .null, order.shipment?.id.databaseValue ?? .null,
                order.shipment?.status.databaseValue ?? .null, .integer(Int64(order.version)), .text(order.createdAt),
                .text(order.updatedAt), .integer(Int64(order.bucket)),
            ]
        )
    }

    /// Drops the views and replays every stream into them, in the caller's transaction (readers see the old
    /// views or the new ones, never a half-built one). Returns the number of orders projected.
    @discardableResult
    public static func rebuild(_ connection: DatabaseConnection, pageSize: Int = 500) throws -> Int {
        // Every append takes this lock before it updates a view: while the rebuild holds it, no append can
        // write a newer row that the rebuild, having read the stream before, would overwrite with an older one.
        try Outbox.lockAppends(connection)
        try connection.execute("DELETE FROM order_view")
        var after = ""
        var count = 0
        while true {
            let orders = try OrderEventStore.streams(connection, after: after, pageSize: pageSize)
            guard let last = orders.last else { break }
            for order in orders { try update(connection, with: order) }
            count += orders.count
            after = last.id
        }
        try connection.execute(
            """
            INSERT INTO projection_versions (name, version) VALUES ($1, $2)
            ON CONFLICT (name) DO UPDATE SET version = excluded.version
            """,
            name,
            version
        )
        return count
    }

    /// Rebuilds when the stored views are of an older projection version (or were never built).
    /// Returns the number of orders projected, or nil when the views were current.
    public static func rebuildIfOutdated(_ database: any Database) async throws -> Int? {
        try await database.write { connection in
            let stored = try connection.queryOne("SELECT version FROM projection_versions WHERE name = $1", name)
            if let stored, try stored.decode("version", as: Int64.self) == Int64(version) { return nil }
            return try rebuild(connection)
        }
    }

    // MARK: Queries

    /// An order's detail, or nil. Ids known only from an early rejection (no customer) are not shown.
    public static func order(_ connection: DatabaseConnection, id: String) throws -> OrderAPI.Order? {
        try connection.queryOne("SELECT * FROM order_view WHERE id = $1 AND customer_id <> ''", id).map(order(from:))
    }

    /// A customer's orders (or everyone's, for nil), newest first; `after` is the cursor of the previous page.
    public static func history(
        _ connection: DatabaseConnection,
        customerId: String?,
        after: String?,
        limit: Int
    ) throws
        -> Page<OrderAPI.Order>
    {
        // UUIDv7 order ids sort by creation time; the cursor is the last id of the page before.
        let before = after ?? "~"
        let rows: [Row]
        if let customerId {
            rows = try connection.query(
                "SELECT * FROM order_view WHERE customer_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                [.text(customerId), .text(before), .integer(Int64(limit + 1))]
            )
        } else {
            // Only the buckets this shard serves: a copy coming in from another shard is not shown twice.
            rows = try connection.query(
                """
                SELECT * FROM order_view WHERE customer_id <> '' AND id < $1 AND \(OrderShards.servedHere)
                ORDER BY id DESC LIMIT $2
                """,
                [.text(before), .integer(Int64(limit + 1))]
            )
        }
        let items = try rows.prefix(limit).map(order(from:))
        return Page(items: items, next: rows.count > limit ? items.last?.id : nil)
    }

    /// Every row, in id order: what tests compare before and after a rebuild.
    public static func dump(_ connection: DatabaseConnection) throws -> [OrderAPI.Order] {
        try connection.query("SELECT * FROM order_view ORDER BY id", []).map(order(from:))
    }

    private static func order(from row: Row) throws -> OrderAPI.Order {
        func ref(_ prefix: String) throws -> OrderAPI.Ref? {
            guard let id = try row.decode("\(prefix)_id", as: String?.self),
                let status = try row.decode("\(prefix)_status", as: String?.self)
            else { return nil }
            return OrderAPI.Ref(id: id, status: status)
        }
        return OrderAPI.Order(
            id: try row.decode("id"),
            customerId: try row.decode("customer_id"),
            checkoutId: try row.decode("checkout_id"),
            status: try row.decode("status"),
            reason: try row.decode("reason", as: String?.self),
            items: try JSON.decode([OrderAPI.Line].self, from: Array(try row.decode("items", as: String.self).utf8)),
            totalCents: try row.decode("total_cents"),
            currency: try row.decode("currency"),
            payment: try ref("payment"),
            shipment: try ref("shipment"),
            version: Int(try row.decode("version", as: Int64.self)),
            createdAt: try row.decode("created_at"),
            updatedAt: try row.decode("updated_at")
        )
    }
}

/// The order service's schema (its migrations: `OrderSchema+Migrations.swift`).
public enum OrderSchema {}
