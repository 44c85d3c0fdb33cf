import Contracts
import FoundationEssentials
import Messaging
import Storage

/// Why inventory refused a command. Routes map these to statuses.
enum InventoryError: Error, Equatable {
    case productExists(String)
    case unknownProduct(String)
    case outOfStock(String)
    case reservationReleased
    case reservationExpired
    case reservationNotFound
    case reservationCommitted
    case reservationNotCommitted(String)
}

/// Products, stock and reservations in SQL. Every function runs inside the caller's transaction.
///
/// Stock never goes negative: a reservation checks and decrements `available` in one transaction, and the
/// writer runs transactions one at a time (SQLite) or under row locks (`FOR UPDATE` on PostgreSQL).
enum InventoryStore {
    static func product(_ connection: DatabaseConnection, sku: String) throws -> InventoryAPI.Product? {
        try connection.queryOne("SELECT sku, name, price_cents, currency, available FROM products WHERE sku = $1", sku).map(product(from:))
    }

    static func products(_ connection: DatabaseConnection, after: String?, limit: Int) throws -> Page<InventoryAPI.Product> {
        let rows = try connection.query(
            "SELECT sku, name, price_cents, currency, available FROM products WHERE sku > $1 ORDER BY sku LIMIT $2",
            after ?? "",
            limit + 1
        )
        let items = try rows.prefix(limit).map(product(from:))
        return Page(items: items, next: rows.count > limit ? items.last?.sku : nil)
    }

    static func create(_ connection: DatabaseConnection, _ command: InventoryAPI.CreateProduct) throws -> InventoryAPI.Product {
        if try product(connection, sku: command.sku) != nil { throw InventoryError.productExists(command.sku) }
        try connection.execute(
            """
            INSERT INTO products (sku, name, price_cents, currency, available, reserved, received, updated_at)
            VALUES ($1, $2, $3, $4, $5, 0, $5, $6)
            """,
            command.sku,
            command.name,
            command.priceCents,
            command.currency,
            command.stock,
            Date()
        )
        try publish(connection, skus: [command.sku])
        return InventoryAPI.Product(
            sku: command.sku,
            name: command.name,
            priceCents: command.priceCents,
            currency: command.currency,
            available: command.stock
        )
    }

    /// An operator's count: the units on sale become `available`, and the difference is recorded as received
    /// (or written off, when lower) so stock stays conserved.
    static func setStock(_ connection: DatabaseConnection, sku: String, available: Int64) throws -> InventoryAPI.Product {
        let changed = try connection.execute(
            "UPDATE products SET received = received + ($1 - available), available = $1, updated_at = $2 WHERE sku = $3",
            available,
            Date(),
            sku
        )
        guard changed == 1, let updated = try product(connection, sku: sku) else { throw InventoryError.unknownProduct(sku) }
        try publish(connection, skus: [sku])
        return updated
    }

    /// Holds stock for every item, or nothing. A reservation id that was released first (a compensation
    /// that overtook its action) stays released: the late action is refused.
    /// The hold lasts `ttl` seconds unless the command asks to hold until commit.
    static func reserve(
        _ connection: DatabaseConnection,
        _ command: InventoryAPI.Reserve,
        ttl: TimeInterval
    ) throws -> InventoryAPI.Reservation {
        if let existing = try reservation(connection, id: command.reservationId) {
            if existing.status == .released { throw InventoryError.reservationReleased }
            if existing.status == .expired { throw InventoryError.reservationExpired }
            return existing
        }
        var merged: [String: Int64] = [:]
        for item in command.items { merged[item.sku, default: 0] += item.quantity }
        // One line per SKU, in SKU order: the order rows are locked in, stored in, and answered in.
        let items = merged.sorted(by: { $0.key < $1.key }).map { Item(sku: $0.key, quantity: $0.value) }
        for item in items {
            let lock = connection.dialect == .postgres ? " FOR UPDATE" : ""
            guard let row = try connection.queryOne("SELECT available FROM products WHERE sku = $1" + lock, item.sku) else {
                throw InventoryError.unknownProduct(item.sku)
            }
            guard try row.decode("available", as: Int64.self) >= item.quantity else { throw InventoryError.outOfStock(item.sku) }
        }
        let now = Date()
        // Stored and answered as the same text, so the answer is what reading the reservation back gives.
        let expiresAt = command.holdUntilCommit == true ? nil : Timestamp.format(now.addingTimeInterval(ttl))
        try connection.execute(
            "INSERT INTO reservations (id, status, created_at, updated_at, expires_at) VALUES ($1, 'RESERVED', $2, $2, $3)",
            [.text(command.reservationId), .date(now), expiresAt.map { .text($0) } ?? .null]
        )
        for item in items {
            try connection.execute(
                "UPDATE products SET available = available - $1, reserved = reserved + $1, updated_at = $2 WHERE sku = $3",
                item.quantity,
                now,
                item.sku
            )
            try connection.execute(
                "INSERT INTO reservation_items (reservation_id, sku, quantity) VALUES ($1, $2, $3)",
                command.reservationId,
                item.sku,
                item.quantity
            )
        }
        try publish(connection, skus: items.map(\.sku))
        return InventoryAPI.Reservation(reservationId: command.reservationId, status: .reserved, items: items, expiresAt: expiresAt)
    }

    /// Returns held stock. Releasing an unknown reservation records it as released and succeeds.
    static func release(_ connection: DatabaseConnection, id: String) throws -> InventoryAPI.Reservation {
        guard let existing = try reservation(connection, id: id) else {
            let now = Date()
            try connection.execute("INSERT INTO reservations (id, status, created_at, updated_at) VALUES ($1, 'RELEASED', $2, $2)", id, now)
            return InventoryAPI.Reservation(reservationId: id, status: .released, items: [])
        }
        switch existing.status {
        case .released, .expired: return existing
        case .committed, .restocked: throw InventoryError.reservationCommitted
        default: break
        }
        let now = Date()
        try connection.execute("UPDATE reservations SET status = 'RELEASED', updated_at = $1 WHERE id = $2", now, id)
        try putBackOnSale(connection, existing.items, fromHeld: true, now: now)
        return InventoryAPI.Reservation(reservationId: id, status: .released, items: existing.items)
    }

    /// Makes a reservation's hold last until commit or release (the checkout saga, just before its pivot).
    /// A hold that ran out is released here and now if the sweeper has not done it yet, and refused: no
    /// money is taken for stock that is no longer held.
    static func hold(_ connection: DatabaseConnection, id: String, now: Date = Date()) throws -> InventoryAPI.Reservation {
        guard let existing = try reservation(connection, id: id) else { throw InventoryError.reservationNotFound }
        switch existing.status {
        case .committed, .restocked: return existing
        case .released: throw InventoryError.reservationReleased
        case .expired: throw InventoryError.reservationExpired
        default: break
        }
        if let expiresAt = existing.expiresAt.flatMap(Timestamp.parse), expiresAt <= now {
            try expire(connection, existing, now: now)
            throw InventoryError.reservationExpired
        }
        try connection.execute("UPDATE reservations SET expires_at = NULL, updated_at = $1 WHERE id = $2", now, id)
        return InventoryAPI.Reservation(reservationId: id, status: .reserved, items: existing.items)
    }

    /// Releases up to `limit` reservations whose hold ran out before `now`, each with its event; returns
    /// their ids.
    static func expireHolds(_ connection: DatabaseConnection, now: Date, limit: Int) throws -> [String] {
        let ids = try connection.query(
            "SELECT id FROM reservations WHERE status = 'RESERVED' AND expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
            [.date(now), .integer(Int64(limit))]
        ).map { try $0.decode("id", as: String.self) }
        for id in ids {
            if let existing = try reservation(connection, id: id), existing.status == .reserved {
                try expire(connection, existing, now: now)
            }
        }
        return ids
    }

    private static func expire(_ connection: DatabaseConnection, _ reservation: InventoryAPI.Reservation, now: Date) throws {
        try connection.execute(
            "UPDATE reservations SET status = 'RELEASED', released_reason = 'expired', updated_at = $1 WHERE id = $2 AND status = 'RESERVED'",
            now,
            reservation.reservationId
        )
        try Outbox.append(
            connection,
            type: InventoryAPI.ReservationExpired.type,
            aggregateId: reservation.reservationId,
            data: InventoryAPI.ReservationExpired(reservationId: reservation.reservationId, items: reservation.items)
        )
        try putBackOnSale(connection, reservation.items, fromHeld: true, now: now)
    }

    /// Turns held stock into sold stock.
    static func commit(_ connection: DatabaseConnection, id: String) throws -> InventoryAPI.Reservation {
        guard let existing = try reservation(connection, id: id) else { throw InventoryError.reservationNotFound }
        switch existing.status {
        case .committed, .restocked: return existing
        case .released: throw InventoryError.reservationReleased
        case .expired: throw InventoryError.reservationExpired
        default: break
        }
        let now = Date()
        for item in existing.items {
            try connection.execute(
                "UPDATE products SET reserved = reserved - $1, updated_at = $2 WHERE sku = $3",
                item.quantity,
                now,
                item.sku
            )
        }
        try connection.execute("UPDATE reservations SET status = 'COMMITTED', updated_at = $1 WHERE id = $2", now, id)
        return InventoryAPI.Reservation(reservationId: id, status: .committed, items: existing.items)
    }

    /// Puts the stock of a committed reservation back on sale (its order was cancelled). Restocking twice
    /// is one restock.
    static func restock(_ connection: DatabaseConnection, id: String) throws -> InventoryAPI.Reservation {
        guard let existing = try reservation(connection, id: id) else { throw InventoryError.reservationNotFound }
        switch existing.status {
        case .restocked: return existing
        case .committed: break
        default: throw InventoryError.reservationNotCommitted(existing.status.rawValue)
        }
        let now = Date()
        try connection.execute("INSERT INTO restocks (reservation_id, restocked_at) VALUES ($1, $2)", id, now)
        try putBackOnSale(connection, existing.items, fromHeld: false, now: now)
        return InventoryAPI.Reservation(reservationId: id, status: .restocked, items: existing.items)
    }

    /// Makes stock available again: held stock (a released reservation) or sold stock (a restocked one).
    /// It publishes, so it comes last in its transaction.
    private static func putBackOnSale(_ connection: DatabaseConnection, _ items: [Item], fromHeld: Bool, now: Date) throws {
        let sql =
            fromHeld
            ? "UPDATE products SET available = available + $1, reserved = reserved - $1, updated_at = $2 WHERE sku = $3"
            : "UPDATE products SET available = available + $1, updated_at = $2 WHERE sku = $3"
        for item in items { try connection.execute(sql, item.quantity, now, item.sku) }
        try publish(connection, skus: items.map(\.sku))
    }

    /// Records in the outbox, in the caller's transaction, that products' price or available stock changed.
    /// Called after the transaction's row writes: the outbox lock is the last lock a transaction takes, so
    /// a transaction holding it never waits for a row another one holds (see `Outbox.append`).
    private static func publish(_ connection: DatabaseConnection, skus: [String]) throws {
        for sku in skus {
            try Outbox.append(
                connection,
                type: InventoryAPI.ProductChanged.type,
                aggregateId: sku,
                data: InventoryAPI.ProductChanged(sku: sku)
            )
        }
    }

    /// Where every unit of each SKU is, after the cursor `after`, read in one statement (one snapshot).
    static func stock(_ connection: DatabaseConnection, after: String, limit: Int) throws -> [ReconciliationAPI.Stock] {
        func units(_ join: String, _ condition: String) -> String {
            "CAST(COALESCE((SELECT SUM(i.quantity) FROM reservation_items i \(join) WHERE i.sku = p.sku\(condition)), 0) AS BIGINT)"
        }
        let reservations = "JOIN reservations r ON r.id = i.reservation_id"
        return try connection.query(
            """
            SELECT p.sku, p.received, p.available, p.reserved,
                \(units(reservations, " AND r.status = 'RESERVED'")) AS held,
                \(units(reservations, " AND r.status = 'COMMITTED'")) AS committed,
                \(units("JOIN restocks s ON s.reservation_id = i.reservation_id", "")) AS restocked
            FROM products p WHERE p.sku > $1 ORDER BY p.sku LIMIT $2
            """,
            [.text(after), .integer(Int64(limit))]
        ).map { row in
            ReconciliationAPI.Stock(
                sku: try row.decode("sku"),
                received: try row.decode("received"),
                available: try row.decode("available"),
                reserved: try row.decode("reserved"),
                held: try row.decode("held"),
                committed: try row.decode("committed"),
                restocked: try row.decode("restocked")
            )
        }
    }

    static func reservation(_ connection: DatabaseConnection, id: String) throws -> InventoryAPI.Reservation? {
        guard
            let row = try connection.queryOne(
                """
                SELECT CASE WHEN r.reservation_id IS NOT NULL THEN 'RESTOCKED'
                    WHEN s.released_reason = 'expired' THEN 'EXPIRED' ELSE s.status END AS status, s.expires_at
                FROM reservations s LEFT JOIN restocks r ON r.reservation_id = s.id WHERE s.id = $1
                """,
                id
            )
        else { return nil }
        let items = try connection.query("SELECT sku, quantity FROM reservation_items WHERE reservation_id = $1 ORDER BY sku", id).map {
            Item(sku: try $0.decode("sku"), quantity: try $0.decode("quantity"))
        }
        let status: ReservationStatus = try row.decode("status")
        return InventoryAPI.Reservation(
            reservationId: id,
            status: status,
            items: items,
            expiresAt: status == .reserved ? try row.decode("expires_at", as: Date?.self).map(Timestamp.format) : nil
        )
    }

    private static func product(from row: Row) throws -> InventoryAPI.Product {
        InventoryAPI.Product(
            sku: try row.decode("sku"),
            name: try row.decode("name"),
            priceCents: try row.decode("price_cents"),
            currency: try row.decode("currency"),
            available: try row.decode("available")
        )
    }
}
