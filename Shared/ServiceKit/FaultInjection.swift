import CoreMetrics
import FoundationEssentials
import HTTP
import Logging

/// Fault injection in a service (`Faults`): armed from `FAULT_INJECTION=on` and `FAULTS=...` at start, and
/// through `GET`/`POST /v1/admin/faults` at run time (service tokens; the gateway forwards it for the admin
/// key). A service started without `FAULT_INJECTION=on` refuses the route and arms nothing.
public enum FaultInjection {
    /// Reads `FAULT_INJECTION` and `FAULTS`. `FAULTS` without `FAULT_INJECTION=on` is a configuration error,
    /// not silently ignored.
    static func configure(_ environment: Environment, logger: Logger) throws {
        let on = try environment.get("FAULT_INJECTION", default: "off")
        guard on == "on" else {
            if on != "off" { throw ConfigError(variable: "FAULT_INJECTION", problem: "must be on or off") }
            if let spec = environment.values["FAULTS"], !spec.isEmpty {
                throw ConfigError(variable: "FAULTS", problem: "needs FAULT_INJECTION=on")
            }
            return
        }
        Faults.shared.enable()
        let rules: [Faults.Rule]
        do {
            rules = try Faults.Rule.parse(environment.values["FAULTS"] ?? "")
        } catch {
            throw ConfigError(variable: "FAULTS", problem: "\(error)")
        }
        try Faults.shared.set(rules)
        logger.warning("fault injection is on", metadata: ["faults.rules": "\(rules.count)"])
    }

    /// `GET /v1/admin/faults` (the rules and what fired) and `POST /v1/admin/faults` (`{"faults": "..."}` in
    /// `FAULTS`'s syntax replaces the rules; an empty string removes them).
    public static func mount(on router: inout Router) {
        router.get("/v1/admin/faults") { request in try await handle(request) }
        router.post("/v1/admin/faults") { request in try await handle(request) }
    }

    /// Answers `GET` or `POST /v1/admin/faults` for this process.
    public static func handle(_ request: Request) async throws -> Response {
        try requireEnabled()
        if request.method == "POST" {
            let body = try request.decode(SetFaults.self)
            guard body.faults.utf8.count <= 4096 else { throw HTTPError.validation("faults must be at most 4096 bytes.") }
            do {
                try Faults.shared.set(try Faults.Rule.parse(body.faults))
            } catch let error as FaultSpecError {
                throw HTTPError.validation("\(error)")
            }
        }
        return try Response.json(view())
    }

    struct SetFaults: Codable {
        let faults: String
    }

    struct View: Codable {
        struct Rule: Codable {
            let point: String
            let match: String
            let action: String
            let probability: Double
            let count: Int?
            let seed: UInt64
            let fired: Int
        }
        let rules: [Rule]
        /// Fired so far, by `point/action` (also `faults_fired{point,action}` in `/metrics`).
        let fired: [String: Int]
    }

    static func view() -> View {
        let snapshot = Faults.shared.snapshot()
        return View(
            rules: snapshot.rules.map { rule, fired in
                let action: String
                switch rule.action {
                case .delay(let milliseconds): action = "delay(\(milliseconds)ms)"
                case .fail(let status): action = "fail(\(status))"
                case .reset: action = "reset"
                case .crash: action = "crash"
                }
                return View.Rule(
                    point: rule.point,
                    match: rule.match,
                    action: action,
                    probability: rule.probability,
                    count: rule.count,
                    seed: rule.seed,
                    fired: fired
                )
            },
            fired: snapshot.fired
        )
    }

    private static func requireEnabled() throws {
        guard Faults.shared.isEnabled else {
            throw HTTPError(.conflict, code: "fault_injection_off", detail: "This service was started without FAULT_INJECTION=on.")
        }
    }

    /// Records what fired as gauges, before `/metrics` renders.
    static func record(into metrics: PrometheusRegistry) {
        guard Faults.shared.isEnabled else { return }
        for (key, count) in Faults.shared.snapshot().fired {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            Gauge(label: "faults_fired", dimensions: [("point", parts[0]), ("action", parts.count > 1 ? parts[1] : "")], factory: metrics)
                .record(count)
        }
    }

    /// The server-side points around a handler: `server.before_handle`, and `participant.after_commit` for
    /// a command (a POST with an Idempotency-Key) whose transaction has committed, before its answer.
    static func middleware() -> Middleware {
        { request, next in
            try await Faults.shared.check("server.before_handle", "\(request.method) \(request.path)")
            let response = try await next(request)
            if request.method == "POST", let key = request.headers["Idempotency-Key"] {
                try await Faults.shared.check("participant.after_commit", "\(request.method) \(request.path) \(key)")
            }
            return response
        }
    }
}
