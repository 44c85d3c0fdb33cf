import Contracts
import FoundationEssentials
import HTTP
import Storage

/// The paged, read-only views a service serves to the consistency auditor (`GET /v1/reconciliation/...`,
/// behind the service token like every internal route).
public enum Reconciliation {
    /// Mounts `GET path?after=&limit=`: rows after the cursor `after` in key order, at most `limit`
    /// (default 500, at most `ReconciliationAPI.maxPageSize`), read in one transaction. `load` is given the
    /// cursor and how many rows to read; `key` is a row's cursor.
    public static func mount<Element: Codable & Sendable>(
        _ path: String,
        on router: inout Router,
        database: any Database,
        key: @escaping @Sendable (Element) -> String,
        load: @escaping @Sendable (DatabaseConnection, _ after: String, _ limit: Int) throws -> [Element]
    ) {
        mount(path, on: &router, reads: ConsistentReads(service: "", database: database, replica: nil), key: key, load: load)
    }

    /// The same through a service's `reads`: on its standby when it has one, past the position the caller's
    /// consistency token gives (the auditor takes one before it reads, so it sees what was committed then).
    public static func mount<Element: Codable & Sendable>(
        _ path: String,
        on router: inout Router,
        reads: ConsistentReads,
        key: @escaping @Sendable (Element) -> String,
        load: @escaping @Sendable (DatabaseConnection, _ after: String, _ limit: Int) throws -> [Element]
    ) {
        mount(path, on: &router, key: key) { request, after, limit in try await reads.read(request) { try load($0, after, limit) } }
    }

    /// The same over any source: `read` is given the request (its consistency token), the cursor and how
    /// many rows to read (a sharded service merges its shards' pages there).
    public static func mount<Element: Codable & Sendable>(
        _ path: String,
        on router: inout Router,
        key: @escaping @Sendable (Element) -> String,
        read: @escaping @Sendable (_ request: Request, _ after: String, _ limit: Int) async throws -> [Element]
    ) {
        router.get(path) { request in
            guard let limit = Int(request.query["limit"] ?? "500"), (1...ReconciliationAPI.maxPageSize).contains(limit) else {
                throw HTTPError.validation("limit must be an integer from 1 to \(ReconciliationAPI.maxPageSize).")
            }
            let after = request.query["after"] ?? ""
            let rows = try await read(request, after, limit + 1)
            let items = Array(rows.prefix(limit))
            return try Response.json(Page(items: items, next: rows.count > limit ? items.last.map(key) : nil))
        }
    }

    /// Mounts `GET path` serving a page of effects (reservations, payments or shipments) from `sql`, a query
    /// with the columns `id, order_id, status, amount, currency, created_at, updated_at`, ordered by `id`, that
    /// takes the cursor as `$1` and the row count as `$2`.
    public static func mountEffects(_ path: String, on router: inout Router, database: any Database, sql: String) {
        mountEffects(path, on: &router, reads: ConsistentReads(service: "", database: database, replica: nil), sql: sql)
    }

    /// The same through a service's `reads` (its standby, with the caller's consistency token).
    public static func mountEffects(_ path: String, on router: inout Router, reads: ConsistentReads, sql: String) {
        mount(path, on: &router, reads: reads, key: \ReconciliationAPI.Effect.id) { connection, after, limit in
            try connection.query(sql, [.text(after), .integer(Int64(limit))]).map { row in
                ReconciliationAPI.Effect(
                    id: try row.decode("id"),
                    orderId: try row.decode("order_id"),
                    status: try row.decode("status"),
                    amount: try row.decode("amount"),
                    currency: try row.decode("currency", as: String?.self),
                    createdAt: Timestamp.format(try row.decode("created_at", as: Date.self)),
                    updatedAt: Timestamp.format(try row.decode("updated_at", as: Date.self))
                )
            }
        }
    }
}
