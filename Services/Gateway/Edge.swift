import Contracts
import FoundationEssentials
import Glibc
import HTTP
import Platform
import ServiceKit
import Storage

/// What the gateway decides about a request from its head alone, before a byte of the body is read:
/// per-address rate limit, authentication (one 401 for everything without a valid key), per-key and
/// checkout rate limits, and the body limit of the route.
struct GatewayEdge: Sendable {
    let keys: APIKeys
    let limits: RateLimits?
    /// Peers whose `X-Forwarded-For` names the client (the TLS proxy in front).
    let trustedProxies: Set<String>
    /// The body limit of routes without one of their own (`GATEWAY_MAX_BODY`, 64 KiB).
    let defaultBodyLimit: Int

    init(keys: APIKeys, environment: Environment) throws {
        self.keys = keys
        limits = try RateLimits.from(environment)
        trustedProxies = Set(
            (try environment.optional("TRUSTED_PROXIES", as: String.self) ?? "").split(separator: ",").map {
                $0.trimmingSpaces()
            }
        )
        defaultBodyLimit = try environment.get("GATEWAY_MAX_BODY", default: 64 * 1024)
    }

    /// Paths anyone may read without a key: liveness and bare readiness (for load balancers), the OpenAPI
    /// document, and the console's page and files (it signs in with a key of its own, in the browser).
    static let publicPaths: Set<String> = ["/health/live", "/health/ready", "/v1/openapi.json", "/console"]

    static func isPublic(_ path: String) -> Bool { publicPaths.contains(path) || path.hasPrefix("/console/") }

    /// The body limit of a route: none for reads, small for commands whose body is a few fields.
    func bodyLimit(method: String, path: String) -> Int {
        switch method {
        case "GET", "HEAD", "DELETE", "OPTIONS": return 0
        default: break
        }
        if path.hasSuffix("/stock") { return 1024 }
        if path == "/v1/checkout" || path == "/v1/products" { return defaultBodyLimit }
        return min(defaultBodyLimit, 8 * 1024)
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the last address in
    /// `X-Forwarded-For` that is not itself a trusted proxy.
    func clientAddress(_ head: RequestHead, peer: String) -> String {
        guard trustedProxies.contains(peer) else { return peer }
        let forwarded = head.headers.values("X-Forwarded-For").flatMap { $0.split(separator: ",") }.map {
            $0.trimmingSpaces()
        }
        for address in forwarded.reversed() where !trustedProxies.contains(address) {
            return Self.isIPAddress(address) ? address : peer
        }
        return peer
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    var headFilter: HeadFilter {
        let edge = self
        return { head, peer in edge.decide(head, peer: peer) }
    }

    func decide(_ head: RequestHead, peer: String) -> HeadDecision {
        let path = head.path
        if Self.isPublic(path) { return .proceed(bodyLimit: 0) }
        if let limits {
            let address = clientAddress(head, peer: peer)
            let outcome = limits.perAddress.take(address)
            if !outcome.allowed { return .refuse(limits.perAddress.refusal(outcome, detail: "Too many requests from this address.")) }
        }
        guard let principal = keys.principal(authorization: head.headers["Authorization"]) else {
            return .refuse(APIKeys.unauthorized.response)
        }
        if let limits {
            let keyOutcome = limits.perKey.take(APIKeys.digest(head.headers["Authorization"] ?? ""))
            if !keyOutcome.allowed { return .refuse(limits.perKey.refusal(keyOutcome, detail: "Too many requests with this API key.")) }
            if head.method == "POST" && path == "/v1/checkout" && principal.role == .customer {
                let outcome = limits.checkouts.take(principal.customerId)
                if !outcome.allowed { return .refuse(limits.checkouts.refusal(outcome, detail: "Too many checkouts for this customer.")) }
            }
        }
        return .proceed(bodyLimit: bodyLimit(method: head.method, path: path))
    }

    /// Sets `Principal.current`; keeps `/metrics` and readiness details for the admin key; adds the
    /// per-key `RateLimit` fields to answers.
    func middleware() -> Middleware {
        let edge = self
        return { request, next in
            let principal = edge.keys.principal(authorization: request.headers["Authorization"])
            if Self.isPublic(request.path) && principal?.isAdmin != true {
                var response = try await next(request)
                if request.path == "/health/ready" {
                    // Load balancers need the status; which dependency fails is for operators.
                    let ready = response.status.code == 200
                    response = try Response.json(GatewayAPI.Health(status: ready ? "ok" : "unavailable"), status: response.status)
                }
                return response
            }
            guard let principal else { throw APIKeys.unauthorized }
            if request.path == "/metrics" || request.path == "/v1/audit-log" {
                try Principal.$current.withValue(principal) { try Access.requireAdmin() }
            }
            let audit = AuditContext.forRequest(actor: principal.actor)
            var response = try await Principal.$current.withValue(principal) {
                try await AuditContext.$current.withValue(audit) { try await next(request) }
            }
            if let limits = edge.limits, response.status.code != 429 {
                let state = limits.perKey.peek(APIKeys.digest(request.headers["Authorization"] ?? ""))
                for (name, value) in limits.perKey.headerFields(state) { response.headers.replaceOrAdd(name: name, value: value) }
            }
            return response
        }
    }
}
