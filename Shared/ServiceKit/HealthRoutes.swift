import HTTP
import Storage

/// `GET /health/live`, `GET /health/ready` and `GET /metrics`.
public enum OperationsRoutes {
    /// A named readiness check: true when the dependency is usable.
    public typealias Check = @Sendable () async -> Bool

    public static func mount(on router: inout Router, checks: [String: Check], metrics: PrometheusRegistry) {
        router.get("/health/live") { _ in try Response.json(["status": "ok"]) }
        router.get("/health/ready") { _ in
            var results: [String: String] = [:]
            for (name, check) in checks.sorted(by: { $0.key < $1.key }) {
                results[name] = await check() ? "ok" : "failing"
            }
            let ready = !results.values.contains("failing")
            return try Response.json(
                [
                    "status": ready ? "ok" : "unavailable",
                    "checks": results.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","),
                ],
                status: ready ? .ok : .serviceUnavailable
            )
        }
        router.get("/metrics") { _ in
            Response(
                status: .ok,
                headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]),
                body: Array(metrics.render().utf8)
            )
        }
    }

    /// The readiness checks of a service with a database: reachable, and every migration applied.
    public static func databaseChecks(_ database: any Database, migrator: Migrator) -> [String: Check] {
        ["database": { await database.ping() }, "migrations": { await migrator.isUpToDate(database) }]
    }
}
