import Contracts
import FoundationEssentials
import HTTP
import Messaging
import Storage
import Synchronization

/// The order service's databases (`ORDER_SHARDS`) and which of them owns each bucket (`OrderBuckets`).
///
/// The shard map is durable and lives in the shards themselves: each shard's `shard_buckets` lists the
/// buckets it owns, so ownership is read where it is written and no shard can be told it owns a bucket
/// by a map kept elsewhere. This object keeps the map in memory, reloads it when a shard says it does not
/// own a bucket (moved by another process), and checks ownership again inside every write transaction:
/// `owned` lets the write through, `fenced` makes it wait (a move is switching the bucket), anything else
/// sends it to the new owner.
///
/// A fresh set of shards gets the buckets round robin (bucket b on shard b mod N); shards added later
/// start empty and take buckets by moves (`moveBucket`), so no customer is rehashed.
public final class OrderShards: Sendable {
    public let databases: [any Database]
    /// Each shard's standby, if it has one: reads that may be stale go there (see `read(bucket:token:_:)`).
    public let replicas: [ReadReplica?]
    /// How long a write waits for a fenced bucket before answering 503 with `Retry-After`.
    public let fenceWait: Duration
    let owners: Mutex<[Int]>

    public init(databases: [any Database], replicas: [ReadReplica?] = [], fenceWait: Duration = .milliseconds(900)) {
        precondition(!databases.isEmpty, "at least one shard")
        precondition(replicas.count <= databases.count, "a standby for a shard that is not there")
        self.databases = databases
        self.replicas = replicas + Array(repeating: nil, count: databases.count - replicas.count)
        self.fenceWait = fenceWait
        owners = Mutex(Array(repeating: 0, count: OrderBuckets.count))
    }

    /// The name of a shard's position in a consistency token (`order=0/3000148,order.shard-1=0/1A2B3C`): shard
    /// 0 keeps the unsharded service's name. Positions of different servers cannot be compared, so each
    /// shard has its own.
    public static func tokenName(shard: Int) -> String {
        shard == 0 ? "order" : "order.shard-\(shard)"
    }

    /// Every standby shard's primary position now, as a consistency token; nil without standbys.
    public func token() async throws -> String? {
        var parts: [String] = []
        for (shard, replica) in replicas.enumerated() {
            guard let replica else { continue }
            parts.append("\(Self.tokenName(shard: shard))=\(try await replica.position())")
        }
        return parts.isEmpty ? nil : parts.joined(separator: ",")
    }

    public var count: Int { databases.count }

    /// The shard that owns `bucket`, as last read.
    public func owner(of bucket: Int) -> Int { owners.withLock { $0[bucket] } }

    /// The whole map, bucket by bucket.
    public var map: [Int] { owners.withLock { $0 } }

    /// The name of a feed consumer on `shard`: shard 0 keeps the unsharded name, so a service that grows
    /// from one database to several keeps its cursors.
    public static func consumerName(_ base: String, shard: Int) -> String {
        shard == 0 ? base : "\(base).shard-\(shard)"
    }

    // MARK: The map

    /// Reads the map from every shard (all must answer). Buckets no shard owns (a fresh set, or an
    /// interrupted first start) are given out round robin.
    public func loadMap() async throws {
        var found = Array(repeating: -1, count: OrderBuckets.count)
        for (index, database) in databases.enumerated() {
            let rows = try await database.read { try $0.query("SELECT bucket, state FROM shard_buckets", []) }
            for row in rows {
                let bucket = Int(try row.decode("bucket", as: Int64.self))
                let state: String = try row.decode("state")
                guard (0..<OrderBuckets.count).contains(bucket) else { continue }
                // 'owned' wins over 'fenced': after a switch both are there until the source is cleaned.
                if state == "owned" || (state == "fenced" && found[bucket] == -1) { found[bucket] = index }
            }
        }
        let unowned = found.indices.filter { found[$0] == -1 }
        if !unowned.isEmpty {
            let shardCount = count
            for (index, database) in databases.enumerated() {
                let mine = unowned.filter { $0 % shardCount == index }
                guard !mine.isEmpty else { continue }
                try await database.write { connection in
                    for bucket in mine {
                        try connection.execute(
                            """
                            INSERT INTO shard_buckets (bucket, state, peer, changed_at) VALUES ($1, 'owned', NULL, $2)
                            ON CONFLICT (bucket) DO NOTHING
                            """,
                            [.integer(Int64(bucket)), .date(Date())]
                        )
                    }
                }
                for bucket in mine { found[bucket] = index }
            }
        }
        owners.withLock { $0 = found }
    }

    /// Fills the bucket column of rows written before sharding existed (migration 003), in batches.
    public func backfillBuckets() async throws -> Int {
        var total = 0
        for database in databases {
            while true {
                let changed = try await database.write { connection -> Int in
                    let rows = try connection.query(
                        "SELECT id, customer_id FROM order_view WHERE bucket IS NULL LIMIT 500",
                        []
                    )
                    for row in rows {
                        let id: String = try row.decode("id")
                        let bucket = OrderBuckets.bucket(orderId: id, customerId: try row.decode("customer_id"))
                        try connection.execute("UPDATE order_view SET bucket = $1 WHERE id = $2", [.integer(Int64(bucket)), .text(id)])
                        try connection.execute(
                            "UPDATE order_events SET bucket = $1 WHERE order_id = $2 AND bucket IS NULL",
                            [.integer(Int64(bucket)), .text(id)]
                        )
                    }
                    return rows.count
                }
                total += changed
                if changed == 0 { break }
            }
        }
        return total
    }

    // MARK: Writes

    /// Runs `body` in a write transaction on the shard that owns `bucket`, after checking there, in the
    /// same transaction, that it still does. A fenced bucket waits up to `fenceWait`, then answers 503
    /// with `Retry-After: 1`; a moved one is followed to its new owner; a shard that cannot be reached
    /// answers 503 (its customers only: the other shards are not touched).
    public func write<T: Sendable>(bucket: Int, _ body: @escaping @Sendable (DatabaseConnection) throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + fenceWait
        var reloads = 0
        while true {
            let shard = owner(of: bucket)
            do {
                return try await databases[shard].write { connection in
                    try Self.requireOwned(connection, bucket: bucket)
                    return try body(connection)
                }
            } catch is BucketFenced {
                guard ContinuousClock.now < deadline else {
                    throw HTTPError(
                        .serviceUnavailable,
                        code: "service_unavailable",
                        detail: "These orders are being moved to another shard; try again in a second.",
                        headers: HTTPHeaders([("Retry-After", "1")])
                    )
                }
                try await Task.sleep(for: .milliseconds(10))
            } catch is BucketNotOwned {
                reloads += 1
                guard reloads <= 3 else { throw Self.unavailable(shard) }
                try await loadMapTolerant(after: reloads)
            } catch let error as DatabaseError where Self.isUnreachable(error) {
                throw Self.unavailable(shard)
            }
        }
    }

    /// Runs `body` in a read on the shard that owns `bucket` (a fenced bucket is still read at its source,
    /// whose rows are complete). A shard that no longer owns it (moved by another process) makes the map
    /// reload, so a read never answers from a shard the bucket has left.
    /// `token` gives a shard's position from the client's consistency token: with a standby, the read runs
    /// there once it has replayed that far (waiting a bounded time), else on the shard's primary.
    public func read<T: Sendable>(
        bucket: Int,
        token: @Sendable (Int) -> String? = { _ in nil },
        _ body: @escaping @Sendable (DatabaseConnection) throws -> T
    ) async throws -> T {
        for attempt in 1... {
            let shard = owner(of: bucket)
            do {
                return try await read(shard: shard, token: token(shard)) { connection in
                    guard let state = try Self.state(connection, bucket: bucket, locking: false), state != "incoming" else {
                        throw BucketNotOwned()
                    }
                    return try body(connection)
                }
            } catch is BucketNotOwned {
                guard attempt <= 3 else { throw Self.unavailable(shard) }
                try await loadMapTolerant(after: attempt)
            }
        }
        fatalError("unreachable")
    }

    /// Runs `body` in a read on `shard` (on its standby when it has one that may serve it, past `token`); an
    /// unreachable shard is a 503.
    public func read<T: Sendable>(
        shard: Int,
        token: String? = nil,
        primary: Bool = false,
        _ body: @escaping @Sendable (DatabaseConnection) throws -> T
    ) async throws -> T {
        do {
            if !primary, let replica = replicas[shard] { return try await replica.read(after: token, body).0 }
            return try await databases[shard].read(body)
        } catch let error as DatabaseError where Self.isUnreachable(error) {
            throw Self.unavailable(shard)
        }
    }

    /// The bucket of an existing order, found from its id: first on the shard its id points to, then on
    /// every other (ids not made by `OrderBuckets.orderId`). Nil when no shard holds it.
    public func locate(orderId: String) async throws -> Int? {
        let hint = OrderBuckets.hint(orderId: orderId)
        var order = Array(0..<count)
        if let hint {
            let first = owner(of: hint)
            order.removeAll { $0 == first }
            order.insert(first, at: 0)
        }
        for shard in order {
            // On the primary: a command looks its order up here, and must find the one created a moment ago.
            let found = try await read(shard: shard, primary: true) { connection in
                try connection.queryOne("SELECT bucket FROM order_events WHERE order_id = $1 LIMIT 1", orderId)
                    .map { try $0.decode("bucket", as: Int64?.self) }
            }
            if let found { return found.map(Int.init) ?? hint ?? OrderBuckets.bucket(customerId: orderId) }
        }
        return nil
    }

    /// Runs `body` on every shard at once and returns the answers in shard order; any shard that cannot be
    /// reached makes the whole call a 503 (a listing that silently missed a shard would lie).
    public func gather<T: Sendable>(
        token: @escaping @Sendable (Int) -> String? = { _ in nil },
        _ body: @escaping @Sendable (DatabaseConnection) throws -> T
    ) async throws -> [T] {
        try await withThrowingTaskGroup(of: (Int, T).self) { group in
            for shard in 0..<count { group.addTask { (shard, try await self.read(shard: shard, token: token(shard), body)) } }
            var results: [(Int, T)] = []
            for try await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    // MARK: Ownership inside a transaction

    /// A condition on `order_view` rows: the order is in a bucket this shard serves (owned, or fenced while it
    /// moves; not a copy coming in), or the shard has no map yet. Listings that gather every shard use it, so
    /// a bucket caught between two shards is not shown from the copy.
    public static let servedHere = """
        (bucket IS NULL OR bucket IN (SELECT bucket FROM shard_buckets WHERE state <> 'incoming') \
        OR NOT EXISTS (SELECT 1 FROM shard_buckets))
        """

    /// The bucket is being switched to another shard: the write waits.
    struct BucketFenced: Error {}
    /// This shard does not own the bucket (any more): the map is reloaded.
    struct BucketNotOwned: Error {}

    /// This shard's state for `bucket`, locked against a move's fence until the transaction ends (PostgreSQL;
    /// SQLite's single writer serializes anyway). Nil when the shard has no row for it.
    static func state(_ connection: DatabaseConnection, bucket: Int, locking: Bool = true) throws -> String? {
        let lock = connection.dialect == .postgres && locking ? " FOR SHARE" : ""
        return try connection.queryOne("SELECT state FROM shard_buckets WHERE bucket = $1" + lock, Int64(bucket))?
            .decode("state", as: String.self)
    }

    static func requireOwned(_ connection: DatabaseConnection, bucket: Int) throws {
        switch try state(connection, bucket: bucket) {
        case "owned": return
        case "fenced": throw BucketFenced()
        default: throw BucketNotOwned()
        }
    }

    /// For a feed consumer on this shard, inside its transaction: whether it applies an event to an order
    /// of `bucket`. Owned: yes. Fenced: not now (`DeferredEvent`: the consumer stops there and tries
    /// again, so nothing of the bucket is skipped while it moves). Incoming or not here: no; the move
    /// rewinds the new owner's cursor to the old owner's when it switches, so it reads those events then.
    public static func consumerApplies(_ connection: DatabaseConnection, bucket: Int) throws -> Bool {
        switch try state(connection, bucket: bucket) {
        case "owned": return true
        case "fenced": throw DeferredEvent(reason: "bucket \(bucket) is moving")
        case nil:
            // A database whose map was never written (the service has not started on it yet) holds only
            // its own orders.
            return try connection.queryOne("SELECT 1 AS mapped FROM shard_buckets LIMIT 1", []) == nil
        default: return false
        }
    }

    // MARK: Errors

    static func isUnreachable(_ error: DatabaseError) -> Bool {
        [.connectionLost, .closed, .timeout].contains(error.code)
    }

    static func unavailable(_ shard: Int) -> HTTPError {
        HTTPError(
            .serviceUnavailable,
            code: "service_unavailable",
            detail: "The orders of this customer are unavailable (shard \(shard)).",
            headers: HTTPHeaders([("Retry-After", "1")])
        )
    }

    private func loadMapTolerant(after attempt: Int) async throws {
        do {
            try await loadMap()
        } catch let error as DatabaseError where Self.isUnreachable(error) {
            // A shard that is down cannot tell what it owns; keep the map and try the move's target again.
            try await Task.sleep(for: .milliseconds(10 * attempt))
        }
    }
}
