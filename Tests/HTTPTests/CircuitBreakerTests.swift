import HTTP
import Testing

/// The circuit breaker's state machine, time passed in: no network.
@Suite("Circuit breaker")
struct CircuitBreakerTests {
    let t0 = ContinuousClock.now
    let policy = CircuitBreaker.Policy(
        window: .seconds(10),
        minimumCalls: 5,
        failureThreshold: 5,
        failureRatio: 0.5,
        openDuration: .seconds(1),
        maxOpenDuration: .seconds(4)
    )

    @Test func failuresInTheWindowOpenItAndAnOpenBreakerFailsAtOnce() {
        var breaker = CircuitBreaker(policy: policy)
        for n in 0..<4 {
            #expect(breaker.allow(now: t0 + .milliseconds(n)).allowed)
            breaker.record(failed: true, now: t0 + .milliseconds(n))
        }
        #expect(breaker.state == .closed)
        #expect(breaker.allow(now: t0 + .milliseconds(5)).allowed)
        breaker.record(failed: true, now: t0 + .milliseconds(5))
        #expect(breaker.state == .open(until: t0 + .milliseconds(5) + .seconds(1)))
        let refused = breaker.allow(now: t0 + .milliseconds(500))
        #expect(!refused.allowed)
        #expect(refused.retryAfter == .milliseconds(505))
    }

    @Test func aFewFailuresAmongManySuccessesOrOutsideTheWindowDoNotOpenIt() {
        var breaker = CircuitBreaker(policy: policy)
        for n in 0..<20 { breaker.record(failed: n % 3 == 0, now: t0 + .milliseconds(n)) }
        #expect(breaker.state == .closed, "7 failures of 20 are under half")
        var spread = CircuitBreaker(policy: policy)
        for n in 0..<10 { spread.record(failed: true, now: t0 + .seconds(3 * n)) }
        #expect(spread.state == .closed, "one failure every 3 s never puts 5 in a 10 s window")
    }

    /// Thousands of calls pass through the kept window (its front dropped and compacted on the way): the
    /// failures counted are exactly those of the last 10 s, and of at most the last 1,000 calls.
    @Test func theWindowCountsOnlyItsOwnCallsAcrossThousandsOfThem() {
        var breaker = CircuitBreaker(policy: policy)
        // 5,000 calls 5 ms apart (25 s), every other one failed in the first 12 s: all out of the window later.
        for n in 0..<5000 {
            let at = t0 + .milliseconds(5 * n)
            // A quarter of the first 12 s failed, under the ratio: it stays closed all along.
            breaker.record(failed: n < 2400 && n % 4 == 0, now: at)
        }
        #expect(breaker.state == .closed)
        // The window (15 s to 25 s) holds 2,000 successes, capped to the last 1,000: the 500th failure after
        // them is the first that makes half of the kept 1,000 calls failures.
        let later = t0 + .seconds(26)
        for n in 0..<499 { breaker.record(failed: true, now: later + .microseconds(n)) }
        #expect(breaker.state == .closed, "499 failures among the last 1,000 calls")
        breaker.record(failed: true, now: later + .microseconds(500))
        #expect(breaker.state == .open(until: later + .microseconds(500) + .seconds(1)))
    }

    @Test func halfOpenLetsOneProbeThroughWhichClosesOrReopensForLonger() {
        var breaker = CircuitBreaker(policy: policy)
        for n in 0..<5 { breaker.record(failed: true, now: t0 + .milliseconds(n)) }
        let reopenAt = t0 + .milliseconds(4) + .seconds(1)
        #expect(breaker.allow(now: reopenAt).allowed, "the probe")
        #expect(breaker.state == .halfOpen(probing: true))
        #expect(!breaker.allow(now: reopenAt).allowed, "one probe at a time")
        breaker.record(failed: true, now: reopenAt)
        #expect(breaker.state == .open(until: reopenAt + .seconds(2)), "open twice as long")
        let second = reopenAt + .seconds(2)
        #expect(breaker.allow(now: second).allowed)
        breaker.record(failed: false, now: second)
        #expect(breaker.state == .closed)
        // Closed again with the first open duration.
        for n in 0..<5 { breaker.record(failed: true, now: second + .milliseconds(n)) }
        #expect(breaker.state == .open(until: second + .milliseconds(4) + .seconds(1)))
    }

    @Test func aCancelledProbeIsGivenBack() {
        var breaker = CircuitBreaker(policy: policy)
        for n in 0..<5 { breaker.record(failed: true, now: t0 + .milliseconds(n)) }
        let later = t0 + .seconds(2)
        #expect(breaker.allow(now: later).allowed)
        breaker.abandon()
        #expect(breaker.allow(now: later).allowed, "another probe may go")
    }

    @Test func offNeverOpens() {
        var breaker = CircuitBreaker(policy: .off)
        for n in 0..<1000 { breaker.record(failed: true, now: t0 + .milliseconds(n)) }
        #expect(breaker.allow(now: t0 + .seconds(2)).allowed)
    }
}
