import ServiceKit
import Testing

@Suite("Token-bucket rate limits (time passed in)")
struct RateLimiterTests {
    let start = ContinuousClock.now

    @Test func aBucketAllowsItsQuotaThenRefusesUntilItRefills() {
        let limiter = RateLimiter(policy: RatePolicy(name: "t", quota: 3, window: .seconds(3)))
        for expected in [2, 1, 0] {
            let outcome = limiter.take("k", now: start)
            #expect(outcome.allowed && outcome.remaining == expected)
        }
        let refused = limiter.take("k", now: start)
        #expect(!refused.allowed)
        #expect(refused.reset == 1, "one token a second: the next in one second")
        #expect(!limiter.take("k", now: start + .milliseconds(900)).allowed)
        #expect(limiter.take("k", now: start + .milliseconds(1100)).allowed)
        #expect(limiter.take("other", now: start).allowed, "keys have buckets of their own")
        #expect(limiter.peek("k", now: start + .seconds(60)).remaining == 3, "a bucket never holds more than its quota")
    }

    @Test func theNumberOfBucketsIsBounded() {
        let limiter = RateLimiter(policy: RatePolicy(name: "t", quota: 2, window: .seconds(1)), maxKeys: 100)
        for index in 0..<1000 { _ = limiter.take("address-\(index)", now: start + .milliseconds(index)) }
        #expect(limiter.keyCount <= 100)
        // Full buckets go first: a key being limited right now keeps its empty bucket.
        _ = limiter.take("busy", now: start + .seconds(10))
        _ = limiter.take("busy", now: start + .seconds(10))
        for index in 0..<50 { _ = limiter.take("later-\(index)", now: start + .seconds(10)) }
        #expect(!limiter.take("busy", now: start + .seconds(10)).allowed)
    }

    @Test func policiesParseAndNameThemselvesInTheDraftsSyntax() throws {
        let policy = try RatePolicy.parse("600/60s", name: "per-key", variable: "X")
        #expect(policy.policyField == #""per-key";q=600;w=60"#)
        #expect(throws: ConfigError.self) { try RatePolicy.parse("600", name: "x", variable: "X") }
        #expect(throws: ConfigError.self) { try RatePolicy.parse("0/1s", name: "x", variable: "X") }
        let limiter = RateLimiter(policy: policy)
        let fields = limiter.headerFields(limiter.take("k", now: start))
        #expect(fields.contains { $0 == ("RateLimit", #""per-key";r=599;t=1"#) })
    }
}
