/// Who may call what: for each service, each internal route with the callers it serves. One table for
/// the services (each enforces its own part, `ServiceAuthenticator.middleware`), the tests (every refused
/// pair is tried) and the README (`ServiceAccess.markdownTable`).
public struct ServiceAccess: Sendable {
    public struct Rule: Sendable, Equatable {
        public let method: String
        public let pattern: String
        public let callers: Set<String>
    }

    public let rules: [Rule]

    public init(_ rules: [(String, String, Set<String>)]) {
        self.rules = rules.map { Rule(method: $0.0, pattern: $0.1, callers: $0.2) }
    }

    public func allows(_ caller: String, method: String, pattern: String) -> Bool {
        rules.first { $0.method == method && $0.pattern == pattern }?.callers.contains(caller) ?? false
    }

    /// The rule for a concrete request path (`/v1/payments/p1/void`), matching `{name}` segments.
    public func rule(method: String, path: String) -> Rule? {
        let parts = path.split(separator: "?", maxSplits: 1)[0].split(separator: "/")
        return rules.first { rule in
            let segments = rule.pattern.split(separator: "/")
            return rule.method == method && segments.count == parts.count
                && zip(segments, parts).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }
    }

    /// The rules of `service` (none for a name that is not a service: everything refused).
    public static func of(_ service: String) -> ServiceAccess { table[service] ?? ServiceAccess([]) }

    // Callers: the gateway (the public API, its catalog cache, its auditor), the saga (commands and their
    // compensations), the order service (prices, and the payment and shipping feeds), and the `audit`
    // command (reads, and the compensations its reconciliation sends on an operator's word).
    static let gateway: Set<String> = ["gateway"]
    static let saga: Set<String> = ["saga"]
    static let operations: Set<String> = ["gateway", "auditor"]

    /// Every service's routes behind service tokens.
    public static let table: [String: ServiceAccess] = [
        "inventory": ServiceAccess([
            ("GET", "/v1/products", ["gateway", "order"]),
            ("GET", "/v1/products/{sku}", ["gateway", "order"]),
            ("POST", "/v1/products", gateway),
            ("PUT", "/v1/products/{sku}/stock", gateway),
            ("POST", "/v1/reservations", saga),
            ("POST", "/v1/reservations/{id}/hold", saga),
            ("POST", "/v1/reservations/{id}/commit", saga),
            ("POST", "/v1/reservations/{id}/release", ["saga", "auditor"]),
            ("POST", "/v1/reservations/{id}/restock", ["saga", "auditor"]),
            ("GET", "/v1/reservations/{id}", ["saga", "gateway", "auditor"]),
            ("GET", "/v1/events", operations),
            ("GET", "/v1/reconciliation/stock", operations),
            ("GET", "/v1/reconciliation/reservations", operations),
            ("GET", "/v1/consistency-token", operations),
            ("GET", "/v1/audit-log", operations),
            ("GET", "/v1/admin/faults", operations),
            ("POST", "/v1/admin/faults", operations),
        ]),
        "order": ServiceAccess([
            ("POST", "/v1/orders", saga),
            ("POST", "/v1/orders/{id}/screen", saga),
            ("POST", "/v1/orders/{id}/approve", saga),
            ("POST", "/v1/orders/{id}/reject", ["saga", "auditor"]),
            ("POST", "/v1/orders/{id}/cancel", ["saga", "auditor"]),
            ("GET", "/v1/orders/{id}", ["gateway", "saga", "auditor"]),
            ("GET", "/v1/orders/{id}/events", operations),
            ("GET", "/v1/orders", gateway),
            ("GET", "/v1/events", operations),
            ("GET", "/v1/shards/{shard}/events", operations),
            ("GET", "/v1/reconciliation/orders", operations),
            ("GET", "/v1/consistency-token", operations),
            ("GET", "/v1/admin/shards", operations),
            ("POST", "/v1/admin/buckets/{bucket}/move", operations),
            ("GET", "/v1/admin/consumers", operations),
            ("GET", "/v1/admin/consumers/{name}", operations),
            ("GET", "/v1/admin/consumers/{name}/dead-letters", operations),
            ("POST", "/v1/admin/consumers/{name}/dead-letters/{id}/redrive", operations),
            ("POST", "/v1/admin/consumers/{name}/rewind", operations),
            ("GET", "/v1/audit-log", operations),
            ("GET", "/v1/admin/faults", operations),
            ("POST", "/v1/admin/faults", operations),
        ]),
        "payment": ServiceAccess([
            ("POST", "/v1/payment-methods", gateway),
            ("POST", "/v1/payments/authorize", saga),
            ("POST", "/v1/payments/{id}/capture", saga),
            ("POST", "/v1/payments/{id}/void", ["saga", "auditor"]),
            ("POST", "/v1/payments/{id}/refund", ["saga", "auditor"]),
            ("GET", "/v1/payments/{id}", ["gateway", "saga", "auditor"]),
            ("GET", "/v1/payments", gateway),
            ("GET", "/v1/events", ["order", "gateway", "auditor"]),
            ("GET", "/v1/reconciliation/payments", operations),
            ("GET", "/v1/audit-log", operations),
            ("GET", "/v1/admin/faults", operations),
            ("POST", "/v1/admin/faults", operations),
        ]),
        "shipping": ServiceAccess([
            ("POST", "/v1/shipments", saga),
            ("POST", "/v1/shipments/{id}/cancel", ["saga", "auditor"]),
            ("POST", "/v1/shipments/{id}/dispatch", gateway),
            ("POST", "/v1/shipments/{id}/deliver", gateway),
            ("GET", "/v1/shipments/{id}", ["gateway", "saga", "auditor"]),
            ("GET", "/v1/events", ["order", "gateway", "auditor"]),
            ("GET", "/v1/reconciliation/shipments", operations),
            ("GET", "/v1/audit-log", operations),
            ("GET", "/v1/admin/faults", operations),
            ("POST", "/v1/admin/faults", operations),
        ]),
        "saga": ServiceAccess([
            ("POST", "/v1/checkouts", gateway),
            ("GET", "/v1/checkouts/{id}", gateway),
            ("POST", "/v1/cancellations", operations),
            ("GET", "/v1/sagas/{id}", operations),
            ("GET", "/v1/sagas", gateway),
            ("GET", "/v1/sagas/counts", gateway),
            ("POST", "/v1/sagas/{id}/retry", gateway),
            ("POST", "/v1/sagas/{id}/resume", gateway),
            ("POST", "/v1/sagas/{id}/compensate", gateway),
            ("POST", "/v1/sagas/{id}/redrive", operations),
            ("GET", "/v1/reconciliation/sagas", operations),
            ("GET", "/v1/consistency-token", operations),
            ("GET", "/v1/audit-log", operations),
            ("GET", "/v1/admin/faults", operations),
            ("POST", "/v1/admin/faults", operations),
        ]),
    ]

    /// The table as Markdown, one row per route (for the README).
    public static var markdownTable: String {
        var lines = ["| service | route | callers |", "|---|---|---|"]
        for service in ["inventory", "order", "payment", "shipping", "saga"] {
            for rule in table[service]!.rules {
                lines.append("| \(service) | `\(rule.method) \(rule.pattern)` | \(rule.callers.sorted().joined(separator: ", ")) |")
            }
        }
        return lines.joined(separator: "\n")
    }
}
