import Contracts
import FoundationEssentials
import Messaging
import Storage

/// Moving a bucket (its customers' streams, views and idempotency records) to another shard while the
/// service runs: copy, fence, switch, verify, clean the source.
///
/// 1. The destination records the bucket as `incoming` (from the source) and takes a first copy while
///    writes go on at the source.
/// 2. The source fences the bucket: writes to it wait (up to `fenceWait`, then 503 with `Retry-After`),
///    and the source's feed consumers stop before its events.
/// 3. In one transaction of the destination: the copy is taken again from the now still source, checked
///    event by event against it, the destination's consumer cursors are rewound to the source's (so no
///    feed event of the bucket is skipped between the two), and the bucket becomes `owned` there.
/// 4. The source deletes the bucket's rows and its fence; waiting writes follow the map to the new owner.
///
/// Outbox rows are not moved: an event the source emitted stays in the source's feed (consumers read it
/// once, there), and events after the switch are emitted by the destination.
///
/// Every step is a transaction of one shard and leaves a state from which `recoverMoves` finishes or
/// undoes the move, so a kill -9 anywhere loses nothing and doubles nothing. The destination's row is
/// the arbiter: a move switches only while it is still `incoming`, and an undo deletes it only while it is.
extension OrderShards {
    /// What a move did.
    public struct MoveReport: Sendable, Equatable {
        public var bucket: Int
        public var from: Int
        public var to: Int
        public var orders: Int
        public var events: Int
        /// How long writes to the bucket were fenced (from the fence to the source's release).
        public var fenced: Duration
    }

    /// A move that cannot be made.
    public struct MoveError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The consumers whose cursors a move carries over (each shard runs one of each).
    public static let consumerBases = [OrderFeeds.paymentConsumer, OrderFeeds.shippingConsumer]

    /// Moves `bucket` to shard `destination`. `pause` is called after each step by name (`incoming`,
    /// `copied`, `fenced`, `switched`), for crash tests.
    public func moveBucket(
        _ bucket: Int,
        to destination: Int,
        pause: @Sendable (String) async -> Void = { _ in }
    ) async throws -> MoveReport {
        guard (0..<OrderBuckets.count).contains(bucket) else {
            throw MoveError(description: "bucket must be 0 to \(OrderBuckets.count - 1)")
        }
        guard (0..<count).contains(destination) else { throw MoveError(description: "shard must be 0 to \(count - 1)") }
        _ = try await recoverMoves()
        try await loadMap()
        let source = owner(of: bucket)
        guard source != destination else {
            return MoveReport(bucket: bucket, from: source, to: destination, orders: 0, events: 0, fenced: .zero)
        }
        let (from, to) = (databases[source], databases[destination])
        try await to.write { connection in
            guard try Self.state(connection, bucket: bucket) == nil else {
                throw MoveError(description: "shard \(destination) already has a row for bucket \(bucket)")
            }
            try connection.execute(
                "INSERT INTO shard_buckets (bucket, state, peer, changed_at) VALUES ($1, 'incoming', $2, $3)",
                [.integer(Int64(bucket)), .integer(Int64(source)), .date(Date())]
            )
        }
        await pause("incoming")
        do {
            // The first copy, while writes go on: the copy under the fence then has little left to change.
            let first = try await from.read { try BucketRows.read($0, bucket: bucket) }
            try await to.write { connection in
                guard try Self.lockedState(connection, bucket: bucket) == "incoming" else { throw MoveError(description: "move undone") }
                try first.replace(connection, bucket: bucket)
            }
            await pause("copied")
            let fencedAt = ContinuousClock.now
            let fenced = try await from.write { connection in
                try connection.execute(
                    "UPDATE shard_buckets SET state = 'fenced', peer = $1, changed_at = $2 WHERE bucket = $3 AND state = 'owned'",
                    [.integer(Int64(destination)), .date(Date()), .integer(Int64(bucket))]
                )
            }
            guard fenced == 1 else { throw MoveError(description: "shard \(source) no longer owns bucket \(bucket)") }
            await pause("fenced")
            let final = try await from.read { connection in
                (try BucketRows.read(connection, bucket: bucket), try Self.cursors(connection, shard: source))
            }
            try await to.write { connection in
                guard try Self.lockedState(connection, bucket: bucket) == "incoming" else { throw MoveError(description: "move undone") }
                try final.0.replace(connection, bucket: bucket)
                // Verify before switching: the destination holds exactly the source's events.
                let copied = try BucketRows.read(connection, bucket: bucket)
                guard copied.eventIds == final.0.eventIds, copied.views.count == final.0.views.count else {
                    throw MoveError(description: "the copy of bucket \(bucket) does not match its source")
                }
                for base in Self.consumerBases {
                    let sourceCursor = final.1[Self.consumerName(base, shard: source)] ?? 0
                    try connection.execute(
                        "UPDATE consumer_cursors SET seq = $1 WHERE consumer = $2 AND seq > $1",
                        [.integer(sourceCursor), .text(Self.consumerName(base, shard: destination))]
                    )
                }
                try connection.execute(
                    "UPDATE shard_buckets SET state = 'owned', peer = NULL, changed_at = $1 WHERE bucket = $2",
                    [.date(Date()), .integer(Int64(bucket))]
                )
            }
            owners.withLock { $0[bucket] = destination }
            await pause("switched")
            try await release(bucket, at: source)
            return MoveReport(
                bucket: bucket,
                from: source,
                to: destination,
                orders: final.0.views.count,
                events: final.0.eventIds.count,
                fenced: ContinuousClock.now - fencedAt
            )
        } catch {
            _ = try? await undo(bucket, source: source, destination: destination)
            throw error
        }
    }

    /// Finishes or undoes moves that did not end (the mover was killed), and returns what it did. With
    /// `olderThan`, only moves whose last step is at least that old (a live mover is left alone).
    public func recoverMoves(olderThan age: TimeInterval? = nil) async throws -> [String] {
        var rows: [(shard: Int, bucket: Int, state: String, peer: Int, changed: Date)] = []
        for (shard, database) in databases.enumerated() {
            let found = try await database.read { connection in
                try connection.query("SELECT bucket, state, peer, changed_at FROM shard_buckets WHERE state <> 'owned'", []).map {
                    (
                        Int(try $0.decode("bucket", as: Int64.self)), try $0.decode("state", as: String.self),
                        Int(try $0.decode("peer", as: Int64?.self) ?? -1), try $0.decode("changed_at", as: Date.self)
                    )
                }
            }
            rows += found.map { (shard, $0.0, $0.1, $0.2, $0.3) }
        }
        var done: [String] = []
        let now = Date()
        for row in rows where row.state == "fenced" {
            if let age, now.timeIntervalSince(row.changed) < age { continue }
            guard (0..<count).contains(row.peer) else { continue }
            done.append(try await undo(row.bucket, source: row.shard, destination: row.peer))
        }
        for row in rows where row.state == "incoming" {
            if let age, now.timeIntervalSince(row.changed) < age { continue }
            // Fenced sources were handled above; an incoming copy whose source never fenced is dropped.
            if rows.contains(where: { $0.state == "fenced" && $0.bucket == row.bucket && $0.peer == row.shard }) { continue }
            let dropped = try await databases[row.shard].write { connection -> Bool in
                guard try Self.lockedState(connection, bucket: row.bucket) == "incoming" else { return false }
                try BucketRows.delete(connection, bucket: row.bucket)
                try connection.execute("DELETE FROM shard_buckets WHERE bucket = $1", Int64(row.bucket))
                return true
            }
            if dropped { done.append("dropped the unfinished copy of bucket \(row.bucket) on shard \(row.shard)") }
        }
        if !done.isEmpty { try await loadMap() }
        return done
    }

    /// Ends an interrupted move between `source` and `destination`: forward when the destination switched
    /// already (the source is cleaned), back otherwise (the copy is dropped, then the fence lifted).
    private func undo(_ bucket: Int, source: Int, destination: Int) async throws -> String {
        let switched = try await databases[destination].write { connection -> Bool in
            switch try Self.lockedState(connection, bucket: bucket) {
            case "owned": return true
            case "incoming":
                try BucketRows.delete(connection, bucket: bucket)
                try connection.execute("DELETE FROM shard_buckets WHERE bucket = $1", Int64(bucket))
                return false
            default: return false
            }
        }
        if switched {
            try await release(bucket, at: source)
            owners.withLock { $0[bucket] = destination }
            return "finished moving bucket \(bucket) from shard \(source) to shard \(destination)"
        }
        try await databases[source].write { connection in
            try connection.execute(
                "UPDATE shard_buckets SET state = 'owned', peer = NULL, changed_at = $1 WHERE bucket = $2 AND state = 'fenced'",
                [.date(Date()), .integer(Int64(bucket))]
            )
        }
        owners.withLock { $0[bucket] = source }
        return "undid the move of bucket \(bucket) from shard \(source) to shard \(destination)"
    }

    /// The source's last step: its copy of the bucket and its fence go.
    private func release(_ bucket: Int, at source: Int) async throws {
        try await databases[source].write { connection in
            guard try Self.lockedState(connection, bucket: bucket) == "fenced" else { return }
            try BucketRows.delete(connection, bucket: bucket)
            try connection.execute("DELETE FROM shard_buckets WHERE bucket = $1", Int64(bucket))
        }
    }

    /// The state row, locked for update until the transaction ends (PostgreSQL).
    static func lockedState(_ connection: DatabaseConnection, bucket: Int) throws -> String? {
        let lock = connection.dialect == .postgres ? " FOR UPDATE" : ""
        return try connection.queryOne("SELECT state FROM shard_buckets WHERE bucket = $1" + lock, Int64(bucket))?
            .decode("state", as: String.self)
    }

    /// The consumers' cursors on a shard, by name.
    static func cursors(_ connection: DatabaseConnection, shard: Int) throws -> [String: Int64] {
        var cursors: [String: Int64] = [:]
        for row in try connection.query("SELECT consumer, seq FROM consumer_cursors", []) {
            cursors[try row.decode("consumer")] = try row.decode("seq", as: Int64.self)
        }
        return cursors
    }
}

/// A bucket's rows on one shard, as values that can be written to another shard of either dialect.
struct BucketRows: Sendable {
    var events: [[DatabaseValue]]
    var views: [[DatabaseValue]]
    var keys: [[DatabaseValue]]

    /// The ids of the events, in stream order: what a copy is verified by.
    var eventIds: [String] {
        let column = Self.eventColumns.firstIndex { $0.0 == "event_id" }!
        return events.map { if case .text(let id) = $0[column] { return id } else { return "" } }
    }

    enum Kind { case text, optionalText, integer, date }

    static let eventColumns: [(String, Kind)] = [
        ("order_id", .text), ("version", .integer), ("event_id", .text), ("type", .text), ("schema_version", .integer),
        ("data", .text), ("occurred_at", .text), ("bucket", .integer),
    ]
    static let viewColumns: [(String, Kind)] = [
        ("id", .text), ("customer_id", .text), ("checkout_id", .text), ("status", .text), ("reason", .optionalText),
        ("items", .text), ("total_cents", .integer), ("currency", .text), ("payment_id", .optionalText),
        ("payment_status", .optionalText), ("shipment_id", .optionalText), ("shipment_status", .optionalText),
        ("version", .integer), ("created_at", .text), ("updated_at", .text), ("bucket", .integer),
    ]
    static let keyColumns: [(String, Kind)] = [
        ("key", .text), ("fingerprint", .text), ("status", .integer), ("content_type", .text), ("body", .text),
        ("created_at", .date), ("bucket", .integer),
    ]

    static func read(_ connection: DatabaseConnection, bucket: Int) throws -> BucketRows {
        func rows(_ table: String, _ columns: [(String, Kind)], order: String) throws -> [[DatabaseValue]] {
            let names = columns.map(\.0).joined(separator: ", ")
            return try connection.query("SELECT \(names) FROM \(table) WHERE bucket = $1 ORDER BY \(order)", Int64(bucket)).map { row in
                try columns.map { name, kind in
                    switch kind {
                    case .text: return .text(try row.decode(name))
                    case .optionalText: return try row.decode(name, as: String?.self).map { .text($0) } ?? .null
                    case .integer: return .integer(try row.decode(name))
                    case .date: return .date(try row.decode(name))
                    }
                }
            }
        }
        return BucketRows(
            events: try rows("order_events", eventColumns, order: "order_id, version"),
            views: try rows("order_view", viewColumns, order: "id"),
            keys: try rows("idempotency_keys", keyColumns, order: "key")
        )
    }

    static func delete(_ connection: DatabaseConnection, bucket: Int) throws {
        for table in ["order_events", "order_view", "idempotency_keys"] {
            try connection.execute("DELETE FROM \(table) WHERE bucket = $1", Int64(bucket))
        }
    }

    /// Replaces the bucket's rows on this shard by these.
    func replace(_ connection: DatabaseConnection, bucket: Int) throws {
        try Self.delete(connection, bucket: bucket)
        for (table, columns, rows) in [
            ("order_events", Self.eventColumns, events), ("order_view", Self.viewColumns, views),
            ("idempotency_keys", Self.keyColumns, keys),
        ] {
            let names = columns.map(\.0).joined(separator: ", ")
            let placeholders = (1...columns.count).map { "$\($0)" }.joined(separator: ", ")
            for row in rows {
                try connection.execute("INSERT INTO \(table) (\(names)) VALUES (\(placeholders))", row)
            }
        }
    }
}
