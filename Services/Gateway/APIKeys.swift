import Contracts
import Crypto
import FoundationEssentials
import HTTP
import Platform
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
    /// The operator's name for an admin key (`ADMIN_API_KEYS=ana:KEY`; `admin` for `ADMIN_API_KEY`).
    var operatorName = ""

    var isAdmin: Bool { role == .admin }

    /// How the audit trails name this caller: `operator:ana`, `customer:alice`.
    var actor: String { isAdmin ? "operator:\(operatorName)" : "customer:\(customerId)" }

    @TaskLocal static var current: Principal?
}

/// API keys from `ADMIN_API_KEYS` (`ana:KEY,ben:KEY`: operators by name), `ADMIN_API_KEY` (one unnamed
/// operator, `admin`) and `CUSTOMER_API_KEYS` (`alice:KEY,bob:KEY`), looked up by their SHA-256.
struct APIKeys: Sendable {
    private let principals: [String: Principal]

    init(environment: Environment) throws {
        var principals: [String: Principal] = [:]
        func add(_ key: String, _ principal: Principal, variable: String) throws {
            try environment.checkSecret(key, variable: variable)
            guard principals[Self.digest(key)] == nil else { throw ConfigError(variable: variable, problem: "names one key twice") }
            principals[Self.digest(key)] = principal
        }
        if let admin = try environment.optional("ADMIN_API_KEY", as: String.self) {
            try add(admin, Principal(role: .admin, customerId: "", operatorName: "admin"), variable: "ADMIN_API_KEY")
        }
        let operators = try environment.optional("ADMIN_API_KEYS", as: String.self)
        for (name, key) in try Self.pairs(operators, variable: "ADMIN_API_KEYS", what: "operator") {
            try add(key, Principal(role: .admin, customerId: "", operatorName: name), variable: "ADMIN_API_KEYS")
        }
        let customers = try environment.optional("CUSTOMER_API_KEYS", as: String.self)
        for (name, key) in try Self.pairs(customers, variable: "CUSTOMER_API_KEYS", what: "customer") {
            try add(key, Principal(role: .customer, customerId: name), variable: "CUSTOMER_API_KEYS")
        }
        guard !principals.isEmpty else {
            throw ConfigError(variable: "ADMIN_API_KEY", problem: "or ADMIN_API_KEYS or CUSTOMER_API_KEYS must name at least one key")
        }
        self.principals = principals
    }

    private static func pairs(_ text: String?, variable: String, what: String) throws -> [(String, String)] {
        try (text ?? "").split(separator: ",").map { entry in
            let parts = entry.split(separator: ":", maxSplits: 1).map { $0.trimmingSpaces() }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ConfigError(variable: variable, problem: "must be a comma-separated list of \(what):key")
            }
            return (parts[0], parts[1])
        }
    }

    /// The caller named by an `Authorization: Bearer <key>` field, if the key is known.
    func principal(authorization: String?) -> Principal? {
        guard let header = authorization, header.hasPrefix("Bearer ") else { return nil }
        return principals[Self.digest(String(header.dropFirst(7)))]
    }

    /// The one answer to every request without a valid key, whatever it asked for: a missing resource
    /// and an existing one look alike.
    static let unauthorized = HTTPError(
        .unauthorized,
        code: "unauthorized",
        detail: "A valid API key is required (Authorization: Bearer <key>).",
        headers: HTTPHeaders([("WWW-Authenticate", "Bearer")])
    )

    static func digest(_ key: String) -> String {
        Hex.encode(SHA256.hash(data: Data(key.utf8)))
    }
}

/// Role checks for handlers.
enum Access {
    static func principal() throws -> Principal {
        guard let principal = Principal.current else { throw APIKeys.unauthorized }
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
