import Contracts
import FoundationEssentials
import HTTP
import Storage

/// The transactional outbox: a service appends its events in the same transaction as the change they
/// describe, so an event exists exactly when its change committed (no dual write).
///
/// `seq` orders the feed. On PostgreSQL a sequence number is taken at insert, not at commit, so two
/// transactions could commit out of order and a reader past the later one would skip the earlier;
/// appending takes a transaction-scoped advisory lock, so appenders commit in `seq` order. SQLite's
/// single writer gives the same order by construction.
///
/// That lock is global, so it must not sit in the middle of a lock cycle: a transaction appends after its
/// other row writes (the lock is the last it takes), or, when it appends for several aggregates in turn,
/// takes `lockAppends` before its first write. A transaction holding the lock and waiting for a row that
/// another one holds while it waits for the lock is a deadlock on PostgreSQL.
public enum Outbox {
    /// The table, for a service's migrations.
    public static func tableSQL(_ dialect: SQLDialect) -> String {
        switch dialect {
        case .sqlite:
            return """
                CREATE TABLE outbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    type TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    aggregate_id TEXT NOT NULL,
                    occurred_at TEXT NOT NULL,
                    traceparent TEXT,
                    data TEXT NOT NULL
                ) STRICT
                """
        case .postgres:
            return """
                CREATE TABLE outbox (
                    seq BIGSERIAL PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    type TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    aggregate_id TEXT NOT NULL,
                    occurred_at TIMESTAMPTZ NOT NULL,
                    traceparent TEXT,
                    data TEXT NOT NULL
                )
                """
        }
    }

    /// Appends an event inside the caller's write transaction. `data` is the event's JSON payload.
    @discardableResult
    public static func append(
        _ connection: DatabaseConnection,
        type: String,
        version: Int = 1,
        aggregateId: String,
        data: some Encodable,
        id: String = UUIDv7.string(),
        now: Date = Date()
    ) throws -> String {
        let json = String(decoding: try JSON.encode(data), as: UTF8.self)
        return try append(connection, type: type, version: version, aggregateId: aggregateId, json: json, id: id, now: now)
    }

    /// Appends an event whose payload is JSON text already (an event store's stored payload).
    @discardableResult
    public static func append(
        _ connection: DatabaseConnection,
        type: String,
        version: Int,
        aggregateId: String,
        json: String,
        id: String = UUIDv7.string(),
        now: Date = Date()
    ) throws -> String {
        // Held until commit: appenders commit in the order they took their seq.
        try lockAppends(connection)
        try connection.execute(
            "INSERT INTO outbox (id, type, version, aggregate_id, occurred_at, traceparent, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                .text(id), .text(type), .integer(Int64(version)), .text(aggregateId), .date(now),
                RequestContext.current?.traceparent.map { .text($0) } ?? .null, .text(json),
            ]
        )
        return id
    }

    /// Takes, until the transaction ends, the lock every append takes first (PostgreSQL; SQLite's single
    /// writer serializes anyway). A transaction that must see no append commit while it runs (a projection
    /// rebuild) takes it too.
    public static func lockAppends(_ connection: DatabaseConnection) throws {
        guard connection.dialect == .postgres else { return }
        _ = try connection.query("SELECT pg_advisory_xact_lock(7243534) AS locked", [])
    }

    /// The id of the event at `seq`, if there is one.
    public static func eventId(_ connection: DatabaseConnection, seq: Int64) throws -> String? {
        try connection.queryOne("SELECT id FROM outbox WHERE seq = $1", seq)?.decode("id", as: String.self)
    }

    /// The newest seq in the outbox (0 when empty).
    public static func head(_ connection: DatabaseConnection) throws -> Int64 {
        try connection.query("SELECT COALESCE(MAX(seq), 0) AS head FROM outbox", [])[0].decode("head", as: Int64.self)
    }

    /// Events after `seq`, in feed order.
    public static func events(_ connection: DatabaseConnection, after seq: Int64, limit: Int) throws -> [StoredEvent] {
        try connection.query(
            "SELECT seq, id, type, version, aggregate_id, occurred_at, traceparent, data FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
            [.integer(seq), .integer(Int64(limit))]
        ).map { row in
            StoredEvent(
                seq: try row.decode("seq"),
                id: try row.decode("id"),
                type: try row.decode("type"),
                version: try row.decode("version"),
                aggregateId: try row.decode("aggregate_id"),
                occurredAt: try row.decode("occurred_at"),
                traceparent: try row.decode("traceparent", as: String?.self),
                data: try row.decode("data")
            )
        }
    }
}

/// An event as stored and as served: DESIGN's envelope, with `data` kept as the JSON text it was written as.
public struct StoredEvent: Sendable, Equatable {
    public let seq: Int64
    public let id: String
    public let type: String
    public let version: Int
    public let aggregateId: String
    public let occurredAt: Date
    public let traceparent: String?
    public let data: String

    public init(
        seq: Int64,
        id: String,
        type: String,
        version: Int,
        aggregateId: String,
        occurredAt: Date,
        traceparent: String?,
        data: String
    ) {
        self.seq = seq
        self.id = id
        self.type = type
        self.version = version
        self.aggregateId = aggregateId
        self.occurredAt = occurredAt
        self.traceparent = traceparent
        self.data = data
    }

    /// Decodes the payload.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSON.decode(type, from: Array(data.utf8))
    }
}
