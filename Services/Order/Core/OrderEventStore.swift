import Contracts
import FoundationEssentials
import Messaging
import Storage

/// Another writer appended to the stream after it was read. Thrown out of the transaction (it is neither an
/// `HTTPError` nor a problem, so no idempotency record keeps it) for the caller to run the command again.
public struct ConcurrencyConflict: Error, Equatable {
    public let orderId: String
    public let expectedVersion: Int

    public init(orderId: String, expectedVersion: Int) {
        self.orderId = orderId
        self.expectedVersion = expectedVersion
    }
}

/// Orders as append-only event streams in `order_events`, one row per event, keyed by order id and version.
///
/// Appending writes the next versions after the one the decision was made on; the primary key refuses a
/// version written by someone else meanwhile, so a conflicting append is detected (and retried by the
/// caller on the new state), never silently lost. In the same transaction each event goes to the outbox
/// (the order feed) and the projector updates the read models, so the streams, the feed and the views
/// never disagree.
public enum OrderEventStore {
    /// The order's state: the replay of its stream (upcasting older event versions). Not found: version 0.
    public static func load(_ connection: DatabaseConnection, id: String) throws -> OrderAggregate {
        let rows = try connection.query(
            "SELECT type, schema_version, data, occurred_at FROM order_events WHERE order_id = $1 ORDER BY version",
            id
        )
        return OrderAggregate.replay(id: id, try rows.map(decode))
    }

    /// Appends `events` after `order.version` and returns the new state. Throws `ConcurrencyConflict` when
    /// the stream moved on since `order` was loaded.
    @discardableResult
    public static func append(
        _ connection: DatabaseConnection,
        to order: OrderAggregate,
        _ events: [OrderEvent],
        now: Date
    ) throws
        -> OrderAggregate
    {
        guard !events.isEmpty else { return order }
        // The outbox's append lock first, before any row: a transaction that appends to several streams
        // (a feed consumer's page) and a command on one of them then take their locks in the same order.
        // Taken after the insert, as `Outbox.append` alone would, the two deadlock on PostgreSQL.
        try Outbox.lockAppends(connection)
        var order = order
        let occurredAt = Timestamp.format(now)
        var decided = order
        for event in events { decided.apply(event, occurredAt: occurredAt) }
        let bucket = Int64(decided.bucket)
        for event in events {
            let id = UUIDv7.string()
            let data = try event.encodedData()
            do {
                try connection.execute(
                    """
                    INSERT INTO order_events (order_id, version, event_id, type, schema_version, data, occurred_at, bucket)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    """,
                    order.id,
                    order.version + 1,
                    id,
                    event.type,
                    event.version,
                    data,
                    occurredAt,
                    bucket
                )
            } catch let error as DatabaseError where error.code == .uniqueViolation {
                throw ConcurrencyConflict(orderId: order.id, expectedVersion: order.version)
            }
            try Outbox.append(connection, type: event.type, version: event.version, aggregateId: order.id, json: data, id: id, now: now)
            order.apply(event, occurredAt: occurredAt)
        }
        // Only a creation sets the indexed columns (the customer, the bucket); after it, the row is updated in place.
        let created = events.contains { if case .created = $0 { true } else { false } }
        try OrderProjection.update(connection, with: order, existed: order.version > events.count && !created)
        return order
    }

    /// Loads the order, decides on it and appends what the decision returns, in the caller's transaction.
    @discardableResult
    public static func execute(
        _ connection: DatabaseConnection,
        id: String,
        now: Date = Date(),
        _ decide: (OrderAggregate) throws -> [OrderEvent]
    ) throws -> OrderAggregate {
        let order = try load(connection, id: id)
        return try append(connection, to: order, try decide(order), now: now)
    }

    /// Runs `body` (one transaction) again while it ends in a `ConcurrencyConflict`: the next attempt loads
    /// the stream with the other writer's events and decides again. Gives up after `attempts`.
    public static func retryingConflicts<T>(attempts: Int = 8, _ body: () async throws -> T) async throws -> T {
        for attempt in 1... {
            do {
                return try await body()
            } catch let conflict as ConcurrencyConflict {
                if attempt >= attempts { throw conflict }
                try await Task.sleep(for: .milliseconds(Int64.random(in: 1...(5 * Int64(attempt)))))
            }
        }
        fatalError("unreachable")
    }

    /// An event of a stream as stored, with its payload upcast to the current version (what
    /// `GET /v1/orders/{id}/events` shows).
    public struct Recorded: Sendable, Equatable {
        public let version: Int
        public let type: String
        public let schemaVersion: Int
        public let storedSchemaVersion: Int
        public let data: String
        public let occurredAt: String
    }

    /// The order's stream, oldest first.
    public static func history(_ connection: DatabaseConnection, id: String) throws -> [Recorded] {
        try connection.query(
            "SELECT version, type, schema_version, data, occurred_at FROM order_events WHERE order_id = $1 ORDER BY version",
            id
        ).map { row in
            let type: String = try row.decode("type")
            let stored = Int(try row.decode("schema_version", as: Int64.self))
            let (version, data) = try OrderEvent.upcaster.upcast(type: type, version: stored, data: try row.decode("data"))
            return Recorded(
                version: Int(try row.decode("version", as: Int64.self)),
                type: type,
                schemaVersion: version,
                storedSchemaVersion: stored,
                data: data,
                occurredAt: try row.decode("occurred_at")
            )
        }
    }

    /// Every order id with its stream, in pages of `pageSize` orders: what a rebuild replays.
    static func streams(_ connection: DatabaseConnection, after: String, pageSize: Int) throws -> [OrderAggregate] {
        let ids = try connection.query(
            "SELECT DISTINCT order_id FROM order_events WHERE order_id > $1 ORDER BY order_id LIMIT $2",
            [.text(after), .integer(Int64(pageSize))]
        ).map { try $0.decode("order_id", as: String.self) }
        guard let last = ids.last else { return [] }
        let rows = try connection.query(
            """
            SELECT order_id, type, schema_version, data, occurred_at FROM order_events
            WHERE order_id > $1 AND order_id <= $2 ORDER BY order_id, version
            """,
            after,
            last
        )
        var orders: [OrderAggregate] = []
        for row in rows {
            let id: String = try row.decode("order_id")
            if orders.last?.id != id { orders.append(OrderAggregate(id: id)) }
            let (event, occurredAt) = try decode(row)
            orders[orders.count - 1].apply(event, occurredAt: occurredAt)
        }
        return orders
    }

    private static func decode(_ row: Row) throws -> (OrderEvent, String) {
        let event = try OrderEvent.decode(
            type: try row.decode("type"),
            version: Int(try row.decode("schema_version", as: Int64.self)),
            data: try row.decode("data")
        )
        return (event, try row.decode("occurred_at"))
    }
}
