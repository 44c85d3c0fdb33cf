import FoundationEssentials
import HTTP
import Platform
import Synchronization

/// A token-bucket limit: `quota` requests per `window`, refilled continuously, at most `quota` at once.
public struct RatePolicy: Sendable, Equatable {
    public let name: String
    public let quota: Int
    public let window: Duration

    public init(name: String, quota: Int, window: Duration) {
        self.name = name
        self.quota = quota
        self.window = window
    }

    /// `600/60s`, `20/1m`: a quota, a slash and a duration.
    public static func parse(_ text: String, name: String, variable: String) throws -> RatePolicy {
        let parts = text.split(separator: "/", maxSplits: 1).map { $0.trimmingSpaces() }
        guard parts.count == 2, let quota = Int(parts[0]), quota > 0, let window = Duration.parse(parts[1]), window > .zero else {
            throw ConfigError(variable: variable, problem: "must be a quota per window such as 600/60s")
        }
        return RatePolicy(name: name, quota: quota, window: window)
    }

    var windowSeconds: Double { window.seconds }

    /// `RateLimit-Policy` item (draft-ietf-httpapi-ratelimit-headers): `"name";q=600;w=60`.
    public var policyField: String { "\"\(name)\";q=\(quota);w=\(Int(windowSeconds.rounded(.up)))" }
}

/// Token buckets of one policy, one per key (an API key's digest, a client address, a customer), bounded
/// in number: past `maxKeys`, full buckets (which say nothing a new bucket would not) are dropped first.
public final class RateLimiter: Sendable {
    public struct Outcome: Sendable, Equatable {
        public let allowed: Bool
        /// Requests left now.
        public let remaining: Int
        /// Seconds until a request would be allowed (refused) or until the bucket is full again (allowed).
        public let reset: Int
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let policy: RatePolicy
    private let maxKeys: Int
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(policy: RatePolicy, maxKeys: Int = 100_000) {
        self.policy = policy
        self.maxKeys = maxKeys
    }

    private var ratePerSecond: Double { Double(policy.quota) / policy.windowSeconds }

    /// Takes one token for `key` if there is one.
    public func take(_ key: String, now: ContinuousClock.Instant = .now) -> Outcome {
        buckets.withLock { buckets in
            var bucket = refreshed(buckets[key], now: now)
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            if buckets[key] == nil && buckets.count >= maxKeys { evict(&buckets, now: now) }
            buckets[key] = bucket
            return outcome(bucket, allowed: allowed)
        }
    }

    /// The state for `key` without taking a token (for the `RateLimit` field of an answer).
    public func peek(_ key: String, now: ContinuousClock.Instant = .now) -> Outcome {
        buckets.withLock { outcome(refreshed($0[key], now: now), allowed: true) }
    }

    public var keyCount: Int { buckets.withLock { $0.count } }

    private func refreshed(_ bucket: Bucket?, now: ContinuousClock.Instant) -> Bucket {
        guard var bucket else { return Bucket(tokens: Double(policy.quota), updated: now) }
        let elapsed = now - bucket.updated
        let seconds = elapsed.seconds
        bucket.tokens = min(Double(policy.quota), bucket.tokens + max(0, seconds) * ratePerSecond)
        bucket.updated = now
        return bucket
    }

    private func outcome(_ bucket: Bucket, allowed: Bool) -> Outcome {
        let missing = allowed ? Double(policy.quota) - bucket.tokens : 1 - bucket.tokens
        return Outcome(
            allowed: allowed,
            remaining: Int(bucket.tokens),
            reset: max(allowed ? 0 : 1, Int((missing / ratePerSecond).rounded(.up)))
        )
    }

    private func evict(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        let full = buckets.filter { refreshed($0.value, now: now).tokens >= Double(policy.quota) }.map(\.key)
        for key in full { buckets[key] = nil }
        if buckets.count >= maxKeys, let any = buckets.keys.first { buckets[any] = nil }
    }

    /// The 429 answer for a refusal.
    public func refusal(_ outcome: Outcome, detail: String) -> Response {
        HTTPError(
            .tooManyRequests,
            code: "rate_limited",
            detail: detail,
            headers: HTTPHeaders([("Retry-After", "\(outcome.reset)")] + headerFields(outcome))
        ).response
    }

    /// `RateLimit-Policy` and `RateLimit` (`"name";r=remaining;t=seconds`).
    public func headerFields(_ outcome: Outcome) -> [(String, String)] {
        [("RateLimit-Policy", policy.policyField), ("RateLimit", "\"\(policy.name)\";r=\(outcome.remaining);t=\(outcome.reset)")]
    }
}
