import Contracts
import FoundationEssentials
import HTTP
import SagaCore
import ServiceKit
import Storage

/// Saga instances in the saga service's own database.
struct SagaStore: Sendable {
    let database: any Database
    /// This replica's id, written as the lease owner of the sagas it drives.
    let replica: String
    /// How long a lease lasts without renewal; another replica takes the saga over after that.
    let lease: TimeInterval
    /// Seals a checkout's payment token and address in the stored state.
    let keyring: Keyring
    let seals: SealCache

    init(database: any Database, replica: String, lease: TimeInterval, keyring: Keyring) {
        self.database = database
        self.replica = replica
        self.lease = lease
        self.keyring = keyring
        seals = SealCache(keyring: keyring)
    }

    /// What `saga rotate-keys` brings under the active key.
    static func sealedColumns(_ keyring: Keyring) -> [SealedColumn] {
        [SealedColumn(table: "sagas", key: "id", column: "state") { try StoredSaga.resealed($0, keyring: keyring) }]
    }

    /// Inserts a new saga, or returns the existing one with this id (a repeated start). A new one is
    /// written to the audit trail in the same transaction (`checkout.start`, `cancellation.start`), as the
    /// person the gateway acted for.
    func insertOrFetch(_ saga: StoredSaga) async throws -> (StoredSaga, created: Bool) {
        let state = try saga.encodedJSON(seals)
        let (replica, lease) = (self.replica, self.lease)
        let audit = AuditContext.current
        return try await database.write { connection in
            if let row = try connection.queryOne("SELECT id, kind, state FROM sagas WHERE id = $1", saga.id) {
                return (try decode(row, connection), false)
            }
            let now = Date()
            try connection.execute(
                """
                INSERT INTO sagas (id, kind, order_id, customer_id, status, state, created_at, updated_at, lease_owner, lease_until)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)
                """,
                [
                    .text(saga.id), .text(saga.kind), .text(saga.orderId), .text(saga.customerId), .text(saga.status.rawValue),
                    .text(state), .date(now), .text(replica), .date(now.addingTimeInterval(lease)),
                ]
            )
            try AuditTrail.append(
                connection,
                action: "\(saga.kind).start",
                target: saga.kind == "checkout" ? saga.id : saga.orderId,
                context: audit
            )
            return (saga, true)
        }
    }

    /// The saga of `kind` for an order, if any.
    func find(orderId: String, kind: String) async throws -> StoredSaga? {
        try await database.read { connection in
            try connection.queryOne("SELECT id, kind, state FROM sagas WHERE order_id = $1 AND kind = $2", orderId, kind).map {
                try decode($0, connection)
            }
        }
    }

    /// Makes the saga's new state durable: the step boundary is durable once this returns true. False means
    /// another replica holds the lease now; this one must stop driving the saga.
    ///
    /// Most boundaries append one small entry to the saga's log (what changed since `previous`, the state
    /// last saved); the whole state is written (a snapshot, the log emptied) when the status changes, when
    /// the lease has less than half of its time left (it is renewed then), or without a `previous`. Writing
    /// the whole state at every step was 15 % of the saga's CPU and rewrote a 2 to 3 KB row each time.
    func save(_ saga: StoredSaga, previous: StoredSaga?) async throws -> Bool {
        let entry = previous.flatMap { $0.status == saga.status && !saga.status.isFinished ? saga.logEntry(since: $0) : nil }
        let (replica, lease, seals) = (self.replica, self.lease, self.seals)
        return try await database.write { connection in
            // The lease read under a row lock on PostgreSQL, so a concurrent claim waits for this transaction.
            let lock = connection.dialect == .postgres ? " FOR UPDATE" : ""
            guard let row = try connection.queryOne("SELECT lease_owner, lease_until FROM sagas WHERE id = $1" + lock, saga.id),
                try row.decode("lease_owner", as: String?.self) == replica
            else { return false }
            let now = Date()
            if let entry, let until = try row.decode("lease_until", as: Date?.self), until.timeIntervalSince(now) > lease / 2 {
                try connection.execute(
                    """
                    INSERT INTO saga_log (saga_id, seq, entry)
                    SELECT CAST($1 AS TEXT), COALESCE(MAX(seq), 0) + 1, CAST($2 AS TEXT) FROM saga_log WHERE saga_id = $1
                    """,
                    saga.id,
                    entry
                )
                return true
            }
            try Self.writeSnapshot(connection, saga, seals: seals, now: now, owner: replica, lease: lease)
            return true
        }
    }

    /// The whole state written over the saga's row with this replica's lease, and its log emptied.
    private static func writeSnapshot(
        _ connection: DatabaseConnection,
        _ saga: StoredSaga,
        seals: SealCache,
        now: Date,
        owner: String,
        lease: TimeInterval
    ) throws {
        try connection.execute(
            "UPDATE sagas SET status = $1, state = $2, updated_at = $3, lease_owner = $4, lease_until = $5 WHERE id = $6",
            saga.status.rawValue,
            try saga.encodedJSON(seals),
            now,
            owner,
            saga.status.isFinished ? nil : now.addingTimeInterval(lease),
            saga.id
        )
        try connection.execute("DELETE FROM saga_log WHERE saga_id = $1", saga.id)
    }

    /// An operator's action on a saga (`saga.retry`, `saga.resume`, `saga.compensate`), in one transaction
    /// with its audit entry and its Idempotency-Key's answer: the saga read, `change` applied (it throws a
    /// problem when the action does not apply), and the new state saved with this replica's lease (a live
    /// lease of another replica is refused: that replica drives the saga). The answer is the saga's view.
    func operatorAction(
        _ request: Request,
        action: String,
        id: String,
        change: @escaping @Sendable (inout StoredSaga) throws -> Void
    ) async throws -> Response {
        let (replica, lease, seals) = (self.replica, self.lease, self.seals)
        return try await database.command(request, audit: (action, id)) { connection in
            guard let row = try connection.queryOne("SELECT id, kind, state, lease_owner, lease_until FROM sagas WHERE id = $1", id) else {
                throw HTTPError.notFound("No saga with this id.")
            }
            let now = Date()
            if let owner = try row.decode("lease_owner", as: String?.self), owner != replica,
                let until = try row.decode("lease_until", as: Date?.self), until > now
            {
                throw HTTPError(
                    .conflict,
                    code: "saga_busy",
                    detail: "Another replica (\(owner)) drives this saga; ask again in a few seconds.",
                    headers: HTTPHeaders([("Retry-After", "\(Int(until.timeIntervalSince(now).rounded(.up)))")])
                )
            }
            var saga = try Self.decode(row, connection, seals: seals)
            try change(&saga)
            try Self.writeSnapshot(connection, saga, seals: seals, now: now, owner: replica, lease: lease)
            return try Response.json(saga.view, status: .accepted)
        }
    }

    /// How many sagas are in `status`.
    func count(status: SagaStatus) async throws -> Int {
        try await database.read { connection in
            Int(
                try connection.queryOne("SELECT COUNT(*) AS n FROM sagas WHERE status = $1", status.rawValue)?.decode("n", as: Int64.self)
                    ?? 0
            )
        }
    }

    /// Claims up to `limit` unfinished sagas whose lease is free, expired, or already this replica's (it
    /// restarted: the replica id is stable per host and port), for this replica.
    /// On PostgreSQL `FOR UPDATE SKIP LOCKED` lets replicas claim side by side without waiting on each other.
    func claim(limit: Int) async throws -> [String] {
        let replica = self.replica
        let now = Date()
        let until = now.addingTimeInterval(lease)
        return try await database.write { connection in
            let lock = connection.dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
            return try connection.query(
                """
                UPDATE sagas SET lease_owner = $1, lease_until = $2
                WHERE id IN (
                    SELECT id FROM sagas
                    WHERE status IN ('RUNNING', 'COMPENSATING') AND (lease_until IS NULL OR lease_until < $3 OR lease_owner = $1)
                    ORDER BY id LIMIT $4\(lock)
                )
                RETURNING id
                """,
                [.text(replica), .date(until), .date(now), .integer(Int64(limit))]
            ).map { try $0.decode("id") }
        }
    }

    func load(_ id: String) async throws -> StoredSaga? {
        try await database.read { connection in
            try connection.queryOne("SELECT id, kind, state FROM sagas WHERE id = $1", id).map { try decode($0, connection) }
        }
    }

    /// Sagas of every kind, by id; `status` filters. Through `reads` (a standby may serve it, past the
    /// position in `request`'s consistency token).
    func list(
        status: String?,
        after: String?,
        limit: Int,
        newest: Bool = false,
        reads: ConsistentReads,
        request: Request
    ) async throws -> (items: [StoredSaga], next: String?) {
        let sagas = try await reads.read(request) { connection in
            // Ids are UUIDv7: their order is the order the sagas started in.
            let rows = try connection.query(
                newest
                    ? "SELECT id, kind, state FROM sagas WHERE ($1 = '' OR status = $1) AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
                    : "SELECT id, kind, state FROM sagas WHERE ($1 = '' OR status = $1) AND id > $2 ORDER BY id LIMIT $3",
                status ?? "",
                after ?? "",
                limit + 1
            )
            return try decodePage(rows, connection)
        }
        let items = Array(sagas.prefix(limit))
        return (items, sagas.count > limit ? items.last?.id : nil)
    }

    /// How many sagas are in each status (every status, 0 for none), for the console's live counts.
    func counts(reads: ConsistentReads, request: Request) async throws -> [String: Int] {
        try await reads.read(request) { connection in
            var counts = Dictionary(uniqueKeysWithValues: SagaStatus.allCases.map { ($0.rawValue, 0) })
            for row in try connection.query("SELECT status, COUNT(*) AS n FROM sagas GROUP BY status", []) {
                counts[try row.decode("status")] = Int(try row.decode("n", as: Int64.self))
            }
            return counts
        }
    }

    /// A saga from its row (`id`, `kind`, `state`: the snapshot) and the log entries after it.
    func decode(_ row: Row, _ connection: DatabaseConnection) throws -> StoredSaga {
        try Self.decode(row, connection, seals: seals)
    }

    /// A page of sagas (rows in id order, either way) with their log entries read in one query over the
    /// page's id range: an auditor's page of hundreds of sagas is two queries, not one per saga.
    func decodePage(_ rows: [Row], _ connection: DatabaseConnection) throws -> [StoredSaga] {
        let ids: [String] = try rows.map { try $0.decode("id") }
        guard let low = ids.min(), let high = ids.max() else { return [] }
        var entries: [String: [String]] = [:]
        for entry in try connection.query(
            "SELECT saga_id, entry FROM saga_log WHERE saga_id >= $1 AND saga_id <= $2 ORDER BY saga_id, seq",
            [.text(low), .text(high)]
        ) {
            entries[try entry.decode("saga_id"), default: []].append(try entry.decode("entry"))
        }
        return try rows.map { row in
            let snapshot = try StoredSaga.decode(kind: try row.decode("kind"), state: try row.decode("state"), seals: seals)
            return try snapshot.folding(entries[try row.decode("id")] ?? [])
        }
    }

    private static func decode(_ row: Row, _ connection: DatabaseConnection, seals: SealCache) throws -> StoredSaga {
        let snapshot = try StoredSaga.decode(kind: try row.decode("kind"), state: try row.decode("state"), seals: seals)
        let entries: [String] = try connection.query(
            "SELECT entry FROM saga_log WHERE saga_id = $1 ORDER BY seq",
            [.text(try row.decode("id"))]
        ).map { try $0.decode("entry") }
        return try snapshot.folding(entries)
    }
}
