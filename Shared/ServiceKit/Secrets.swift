/// Where a process runs, from `SAGAMART_ENV`: `development` (`make run`, the tests, a local compose try)
/// or `production`, the default, so a deployment that forgets to say gets the strict checks.
public enum Deployment: String, Sendable, ConfigValue {
    case development
    case production

    public static func parse(_ text: String) -> Deployment? { Deployment(rawValue: text.lowercased()) }
    public static var expectation: String { "development or production" }
}

extension Environment {
    /// `SAGAMART_ENV`, production unless set.
    public func deployment() throws -> Deployment { try self.get("SAGAMART_ENV", default: Deployment.production) }

    /// Checks a secret (a signing key, an API key) read from `variable`. Outside development it must be at
    /// least 32 bytes, and neither one of the project's published development values nor a placeholder:
    /// those are in the repository for anyone to read, and a service that took them would let anyone in.
    public func checkSecret(_ value: String, variable: String) throws {
        guard try deployment() == .production else { return }
        if Secrets.isKnownOrPlaceholder(value) {
            throw ConfigError(
                variable: variable,
                problem: "holds a development value or a placeholder; set a real secret (or SAGAMART_ENV=development for a local try)"
            )
        }
        guard value.utf8.count >= Secrets.minimumBytes else {
            throw ConfigError(variable: variable, problem: "must be at least \(Secrets.minimumBytes) bytes long outside development")
        }
    }
}

/// What makes a secret unfit for production.
public enum Secrets {
    public static let minimumBytes = 32

    /// The development values the repository publishes (`.env.example`, `make run`, the tests).
    static let developmentValues: Set<String> = [
        "dev-service-secret-change-me", "admin-dev-key", "alice-dev-key", "bob-dev-key", "e2e-service-secret-0123456789",
        "test-secret-0123456789abcdef", "dev-backup-key-change-me-0123456789",
    ]

    static func isKnownOrPlaceholder(_ value: String) -> Bool {
        let lower = value.lowercased()
        if developmentValues.contains(value) { return true }
        return ["replace-me", "replace_me", "change-me", "changeme", "change_me", "placeholder", "<secret>", "example"].contains {
            lower.contains($0)
        } || lower.hasPrefix("dev-") || lower.hasSuffix("-dev-key") || Set(lower).count <= 2
    }
}
