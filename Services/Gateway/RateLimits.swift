import ServiceKit

/// The gateway's three limits: per API key, per client address, and checkouts per customer (card testing).
struct RateLimits: Sendable {
    let perKey: RateLimiter
    let perAddress: RateLimiter
    let checkouts: RateLimiter

    /// `RATE_LIMITS=off` turns them off (benchmarks, chaos runs); `RATE_LIMIT_PER_KEY`,
    /// `RATE_LIMIT_PER_ADDRESS` and `RATE_LIMIT_CHECKOUTS` set them.
    static func from(_ environment: Environment) throws -> RateLimits? {
        guard try environment.get("RATE_LIMITS", default: true) else { return nil }
        func policy(_ variable: String, _ name: String, _ fallback: String) throws -> RateLimiter {
            RateLimiter(policy: try RatePolicy.parse(try environment.get(variable, default: fallback), name: name, variable: variable))
        }
        return RateLimits(
            perKey: try policy("RATE_LIMIT_PER_KEY", "per-key", "1200/60s"),
            perAddress: try policy("RATE_LIMIT_PER_ADDRESS", "per-address", "2400/60s"),
            checkouts: try policy("RATE_LIMIT_CHECKOUTS", "checkouts", "30/60s")
        )
    }
}
