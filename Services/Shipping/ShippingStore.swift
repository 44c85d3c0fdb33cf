import Contracts
import FoundationEssentials
import Messaging
import ServiceKit
import Storage

enum ShippingError: Error, Equatable {
    case undeliverable(String)
    case cancelled
    case notFound
    case invalidState(String)
    /// The shipment left the warehouse: it can no longer be cancelled.
    case alreadyDispatched(String)
}

/// Shipments in SQL; each function runs inside the caller's transaction.
enum ShippingStore {
    /// Countries the carrier cannot deliver to (DESIGN: `XX`).
    static let undeliverable: Set<String> = ["XX"]

    /// The address columns, sealed at rest (`Keyring`); the country stays clear, the carrier's rules read it.
    static let sealedAddressColumns = ["name", "line1", "city", "postal_code"]

    /// What `shipping rotate-keys` brings under the active key.
    static func sealedColumns(_ keyring: Keyring) -> [SealedColumn] {
        sealedAddressColumns.map { SealedColumn.text("shipments", key: "id", column: $0, keyring: keyring) }
            + [Idempotency.sealedAnswers(keyring)]
    }

    static func schedule(
        _ connection: DatabaseConnection,
        _ command: ShippingAPI.Schedule,
        keyring: Keyring
    ) throws
        -> ShippingAPI.Shipment
    {
        if let existing = try shipment(connection, id: command.shipmentId) {
            if existing.status == .cancelled { throw ShippingError.cancelled }
            return existing
        }
        let country = command.address.country.uppercased()
        if undeliverable.contains(country) { throw ShippingError.undeliverable(country) }
        let a = command.address
        try connection.execute(
            """
            INSERT INTO shipments (id, order_id, status, name, line1, city, postal_code, country, created_at, updated_at)
            VALUES ($1, $2, 'SCHEDULED', $3, $4, $5, $6, $7, $8, $8)
            """,
            command.shipmentId,
            command.orderId,
            keyring.seal(a.name, context: "shipments.name"),
            keyring.seal(a.line1, context: "shipments.line1"),
            keyring.seal(a.city, context: "shipments.city"),
            keyring.seal(a.postalCode, context: "shipments.postal_code"),
            country,
            Date()
        )
        return try published(connection, command.shipmentId)
    }

    /// Cancels a scheduled shipment; cancelling an unknown one records it as cancelled and succeeds.
    static func cancel(_ connection: DatabaseConnection, id: String) throws -> ShippingAPI.Shipment {
        let now = Date()
        guard let existing = try shipment(connection, id: id) else {
            try connection.execute(
                """
                INSERT INTO shipments (id, order_id, status, name, line1, city, postal_code, country, created_at, updated_at)
                VALUES ($1, '', 'CANCELLED', '', '', '', '', '', $2, $2)
                """,
                id,
                now
            )
            return try shipment(connection, id: id)!
        }
        switch existing.status {
        case .cancelled: return existing
        case .scheduled: break
        case .dispatched, .delivered: throw ShippingError.alreadyDispatched(existing.status.rawValue)
        }
        try connection.execute("UPDATE shipments SET status = 'CANCELLED', updated_at = $1 WHERE id = $2", now, id)
        return try published(connection, id)
    }

    /// Carrier events: SCHEDULED -> DISPATCHED -> DELIVERED.
    static func advance(
        _ connection: DatabaseConnection,
        id: String,
        from: ShipmentStatus,
        to: ShipmentStatus
    ) throws -> ShippingAPI.Shipment {
        guard let existing = try shipment(connection, id: id), !existing.orderId.isEmpty else { throw ShippingError.notFound }
        if existing.status == to { return existing }
        guard existing.status == from else { throw ShippingError.invalidState(existing.status.rawValue) }
        try connection.execute("UPDATE shipments SET status = $1, updated_at = $2 WHERE id = $3", to, Date(), id)
        return try published(connection, id)
    }

    /// Records the shipment's new status in the outbox, in the caller's transaction; returns it.
    private static func published(_ connection: DatabaseConnection, _ id: String) throws -> ShippingAPI.Shipment {
        let shipment = try shipment(connection, id: id)!
        let event = ShippingAPI.ShipmentChanged(shipmentId: shipment.id, orderId: shipment.orderId, status: shipment.status)
        try Outbox.append(connection, type: ShippingAPI.ShipmentChanged.type, aggregateId: shipment.id, data: event)
        return shipment
    }

    static func shipment(_ connection: DatabaseConnection, id: String) throws -> ShippingAPI.Shipment? {
        try connection.queryOne("SELECT id, order_id, status, country FROM shipments WHERE id = $1", id).map {
            ShippingAPI.Shipment(
                id: try $0.decode("id"),
                orderId: try $0.decode("order_id"),
                status: try $0.decode("status"),
                country: try $0.decode("country")
            )
        }
    }
}
