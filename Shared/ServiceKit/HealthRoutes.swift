import CoreMetrics
import HTTP
import Storage

/// `GET /health/live`, `GET /health/ready` and `GET /metrics`.
public enum OperationsRoutes {
    /// A named readiness check: true when the dependency is usable.
    public typealias Check = @Sendable () async -> Bool

    public static func mount(
        on router: inout Router,
        checks: [String: Check],
        metrics: PrometheusRegistry,
        beforeRender: @escaping @Sendable () -> Void = {}
    ) {
        // A fixed document: liveness probes come every few seconds from every orchestrator, no encoder needed.
        let live = Array(#"{"status":"ok"}"#.utf8)
        router.get("/health/live") { _ in Response.json(text: live) }
        router.get("/health/ready") { _ in
            var results: [String: String] = [:]
            for (name, check) in checks.sorted(by: { $0.key < $1.key }) {
                results[name] = await check() ? "ok" : "failing"
            }
            let ready = !results.values.contains("failing")
            return try Response.json(
                Readiness(
                    status: ready ? "ok" : "unavailable",
                    checks: results.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
                ),
                status: ready ? .ok : .serviceUnavailable
            )
        }
        router.get("/metrics") { _ in
            FaultInjection.record(into: metrics)
            beforeRender()
            return Response(
                status: .ok,
                headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]),
                body: Array(metrics.render().utf8)
            )
        }
    }

    /// The HTTP client's view of each peer: `http_client_breaker_state{peer}` (0 closed, 1 half-open, 2 open),
    /// `http_client_connects{peer}` and `http_client_breaker_rejections{peer}` (totals so far).
    public static func recordPeers(_ client: HTTPClient, into metrics: PrometheusRegistry) {
        for status in client.peerStatuses() {
            let peer = [("peer", status.peer)]
            Gauge(label: "http_client_breaker_state", dimensions: peer, factory: metrics).record(status.state.gaugeValue)
            Gauge(label: "http_client_connects", dimensions: peer, factory: metrics).record(status.connects)
            Gauge(label: "http_client_breaker_rejections", dimensions: peer, factory: metrics).record(status.rejected)
        }
    }

    /// The committed writes so far of a service's SQLite databases (its shards, summed):
    /// `db_write_transactions` (write transactions committed) and `db_commits` (the commits, each one fsync
    /// of a WAL, that held them: group commit puts several transactions behind one), and `db_statements`
    /// (the statements their connections ran, reads included). PostgreSQL: not recorded.
    public static func recordWrites(_ databases: [any Database], into metrics: PrometheusRegistry) {
        let sqlite = databases.compactMap { $0 as? SQLiteDatabase }
        guard !sqlite.isEmpty else { return }
        let counts = sqlite.map(\.writesCommitted)
        Gauge(label: "db_write_transactions", factory: metrics).record(counts.reduce(0) { $0 + $1.transactions })
        Gauge(label: "db_commits", factory: metrics).record(counts.reduce(0) { $0 + $1.commits })
        Gauge(label: "db_statements", factory: metrics).record(sqlite.reduce(0) { $0 + $1.statementsRun })
    }

    /// The readiness checks of a service with a database: reachable, and every migration applied.
    public static func databaseChecks(_ database: any Database, migrator: Migrator) -> [String: Check] {
        ["database": { await database.ping() }, "migrations": { await migrator.isUpToDate(database) }]
    }
}

/// `GET /health/ready`: `ok` or `unavailable`, and each check's outcome (`database=ok,migrations=ok`).
public struct Readiness: Codable, Sendable, Equatable {
    public var status: String
    public var checks: String

    public init(status: String, checks: String) {
        self.status = status
        self.checks = checks
    }
}

/// `GET /v1/audit-log?after=&limit=&target=&actor=`: a service's audit trail, oldest first, with each entry's
/// hashes, so `audit verify` can check the chain from outside (behind service tokens; the gateway and the
/// audit command may read it).
public enum AuditLogRoute {
    public static let maxPageSize = 5000

    public static func mount(on router: inout Router, database: any Database) {
        router.get("/v1/audit-log") { request in
            try Response.json(try await page(request, database: database))
        }
    }

    /// One page of entries for the query of `request`.
    public static func page(_ request: Request, database: any Database) async throws -> AuditLogPage {
        let query = request.query
        guard let after = Int64(query["after"] ?? "0"), after >= 0 else {
            throw HTTPError.validation("after must be a non-negative integer.")
        }
        let limit = min(max(Int(query["limit"] ?? "500") ?? 500, 1), maxPageSize)
        let (target, actor) = (query["target"], query["actor"])
        let entries = try await database.read { try AuditTrail.page($0, after: after, limit: limit, target: target, actor: actor) }
        let head = try await database.read { connection in
            try connection.queryOne("SELECT seq, hash FROM audit_head WHERE id = 1").map {
                AuditLogPage.Head(seq: try $0.decode("seq"), hash: try $0.decode("hash"))
            }
        }
        return AuditLogPage(items: entries, next: entries.count == limit ? entries.last?.seq : nil, head: head)
    }
}

/// A page of an audit trail, with the head (the last entry's position and hash) to check the end against.
public struct AuditLogPage: Codable, Sendable {
    public struct Head: Codable, Sendable {
        public let seq: Int64
        public let hash: String
    }

    public let items: [AuditTrail.Entry]
    public let next: Int64?
    public let head: Head?
}
