import CoreMetrics
import FoundationEssentials
import HTTP
import Platform
import Storage

/// A service's reads that may be a little stale, on its `DATABASE_READ_URL` standby when it has one, with
/// read-your-writes through the `X-Consistency-Token` header: `service=LSN,...`, one commit position per
/// service a client wrote to, handed out after a write and sent back on the reads that must see it.
public struct ConsistentReads: Sendable {
    public static let header = "X-Consistency-Token"

    public let database: any Database
    public let replica: ReadReplica?
    let service: String

    public init(service: String, database: any Database, replica: ReadReplica?) {
        self.service = service
        self.database = database
        self.replica = replica
    }

    /// A read: on the standby when it may serve it (past this service's position in the request's token, if
    /// any), else on the primary.
    public func read<T: Sendable>(_ request: Request?, _ body: @escaping @Sendable (DatabaseConnection) throws -> T) async throws -> T {
        guard let replica else { return try await database.read(body) }
        let token = request.flatMap { Self.position(of: service, in: $0.headers[Self.header]) }
        return try await replica.read(after: token, body).0
    }

    /// This service's part of a token (`order=0/3000148`), or nil without a standby (SQLite, or none set).
    public func token() async throws -> String? {
        guard let replica else { return nil }
        return "\(service)=\(try await replica.position())"
    }

    /// The position a token holds for `service`, if it holds a valid one.
    public static func position(of service: String, in token: String?) -> String? {
        guard let token else { return nil }
        for part in token.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
            if pair.count == 2, pair[0] == service, ReadReplica.isPosition(pair[1]) { return pair[1] }
        }
        return nil
    }

    /// Two tokens as one: each service's later position (a client may have written to several).
    public static func merge(_ tokens: [String?]) -> String? {
        var positions: [String: String] = [:]
        for token in tokens.compactMap({ $0 }) {
            for part in token.split(separator: ",") {
                let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, ReadReplica.isPosition(pair[1]) else { continue }
                if let current = positions[pair[0]], Self.compare(current, pair[1]) >= 0 { continue }
                positions[pair[0]] = pair[1]
            }
        }
        return positions.isEmpty ? nil : positions.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// Orders two WAL positions (`X/Y`, hexadecimal).
    static func compare(_ a: String, _ b: String) -> Int {
        func value(_ text: String) -> (UInt64, UInt64) {
            let parts = text.split(separator: "/").map { UInt64($0, radix: 16) ?? 0 }
            return (parts.first ?? 0, parts.last ?? 0)
        }
        let (x, y) = (value(a), value(b))
        return x == y ? 0 : (x < y ? -1 : 1)
    }

    /// `GET /v1/consistency-token` (service token): this service's position now, for a caller that wrote
    /// through it a moment ago (the gateway after a checkout); 204 without a standby.
    public func mount(on router: inout Router) {
        let reads = self
        router.get("/v1/consistency-token") { _ in
            guard let token = try await reads.token() else { return Response(status: .noContent) }
            return try Response.json(["token": token])
        }
    }
}

extension ServiceRuntime {
    /// The reads of a service on `database`, with the standby `DATABASE_READ_URL` names (PostgreSQL) when set.
    /// `READ_REPLICA_MAX_LAG` (5s) is how far behind the standby may be and still serve a read without a token.
    /// Metrics: `db_reads_total{target}` and `db_replica_lag_seconds`.
    public func consistentReads(primary database: any Database) throws -> ConsistentReads {
        let replica = try readReplica(primary: database, url: try environment.get("DATABASE_READ_URL", default: ""))
        return ConsistentReads(service: name, database: database, replica: replica)
    }

    /// A standby of `database` at `url` (nil when `url` is empty), named by `variable` in errors, with its
    /// metrics labelled by `labels` besides the target.
    public func readReplica(
        primary database: any Database,
        url text: String,
        variable: String = "DATABASE_READ_URL",
        labels: [(String, String)] = []
    ) throws -> ReadReplica? {
        guard !text.isEmpty else { return nil }
        guard case .postgres(let conninfo) = try? DatabaseURL(text), database.dialect == .postgres else {
            throw ConfigError(variable: variable, problem: "must be a postgres:// URL of a standby of the service's database")
        }
        let maxLag = try environment.get("READ_REPLICA_MAX_LAG", default: Duration.seconds(5))
        let pool = try environment.get("DATABASE_POOL_SIZE", default: 4)
        let metrics = self.metrics
        let lag = Gauge(label: "db_replica_lag_seconds", dimensions: labels, factory: metrics)
        logger.info("reads may go to the standby", metadata: ["db.max_lag": "\(maxLag)", "db.variable": "\(variable)"])
        return ReadReplica(
            primary: database,
            replica: try PostgresDatabase(conninfo: conninfo, poolSize: pool, logger: logger),
            maxLag: maxLag.seconds,
            onRead: { Counter(label: "db_reads_total", dimensions: [("target", $0.rawValue)] + labels, factory: metrics).increment() },
            onLag: { lag.record($0) }
        )
    }
}
