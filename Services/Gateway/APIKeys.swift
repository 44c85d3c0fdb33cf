import Crypto
import Foundation
import HTTP
import ServiceKit

/// Who is calling the public API.
struct Principal: Sendable, Equatable {
    enum Role: Sendable, Equatable {
        case admin
        case customer
    }

    let role: Role
    /// The customer id (`alice`); empty for admin.
    let customerId: String

    var isAdmin: Bool { role == .admin }

    @TaskLocal static var current: Principal?
}

/// API keys from `ADMIN_API_KEY` and `CUSTOMER_API_KEYS` (`alice:KEY,bob:KEY`), looked up by their SHA-256.
struct APIKeys: Sendable {
    private let principals: [String: Principal]

    init(environment: Environment) throws {
        var principals: [String: Principal] = [:]
        if let admin = try environment.optional("ADMIN_API_KEY", as: String.self) {
            try environment.checkSecret(admin, variable: "ADMIN_API_KEY")
            principals[Self.digest(admin)] = Principal(role: .admin, customerId: "")
        }
        for entry in (try environment.optional("CUSTOMER_API_KEYS", as: String.self) ?? "").split(separator: ",") {
            let parts = entry.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ConfigError(variable: "CUSTOMER_API_KEYS", problem: "must be a comma-separated list of customer:key")
            }
            try environment.checkSecret(parts[1], variable: "CUSTOMER_API_KEYS")
            principals[Self.digest(parts[1])] = Principal(role: .customer, customerId: parts[0])
        }
        guard !principals.isEmpty else {
            throw ConfigError(variable: "ADMIN_API_KEY", problem: "or CUSTOMER_API_KEYS must name at least one key")
        }
        self.principals = principals
    }

    /// Middleware: 401 without a known key on `/v1/...`; sets `Principal.current` for the handlers.
    func middleware() -> Middleware {
        let keys = self
        return { request, next in
            guard request.path.hasPrefix("/v1/") else { return try await next(request) }
            guard let header = request.headers["Authorization"], header.hasPrefix("Bearer "),
                let principal = keys.principals[Self.digest(String(header.dropFirst(7)))]
            else {
                throw HTTPError(
                    .unauthorized,
                    code: "unauthorized",
                    detail: "A valid API key is required (Authorization: Bearer <key>).",
                    headers: HTTPHeaders([("WWW-Authenticate", "Bearer")])
                )
            }
            return try await Principal.$current.withValue(principal) { try await next(request) }
        }
    }

    private static func digest(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// Role checks for handlers.
enum Access {
    static func principal() throws -> Principal {
        guard let principal = Principal.current else {
            throw HTTPError(.unauthorized, code: "unauthorized", detail: "A valid API key is required.")
        }
        return principal
    }

    static func requireAdmin() throws {
        guard try principal().isAdmin else { throw HTTPError(.forbidden, code: "forbidden", detail: "This needs the admin role.") }
    }

    static func requireCustomer() throws -> String {
        let principal = try principal()
        guard principal.role == .customer else { throw HTTPError(.forbidden, code: "forbidden", detail: "This needs a customer key.") }
        return principal.customerId
    }

    /// Whether the caller may see something owned by `customerId` (others get 404, not 403).
    static func canSee(_ customerId: String) throws -> Bool {
        let principal = try principal()
        return principal.isAdmin || principal.customerId == customerId
    }
}
