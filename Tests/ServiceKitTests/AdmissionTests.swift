import HTTP
import ServiceKit
import Synchronization
import Testing

/// Admission control: work beyond the limit is refused at once, and room comes back as work ends.
@Suite("Admission control")
struct AdmissionTests {
    @Test func beyondTheLimitWorkIsRefusedAtOnceAndRoomComesBack() async throws {
        let admission = Admission(limit: 2)
        let gate = AsyncStream.makeStream(of: Void.self)
        let started = AsyncStream.makeStream(of: Void.self)
        async let first: Void = admission.admit {
            started.continuation.yield()
            for await _ in gate.stream { break }
        }
        async let second: Void = admission.admit {
            started.continuation.yield()
            for await _ in gate.stream { break }
        }
        var iterator = started.stream.makeAsyncIterator()
        _ = await iterator.next()
        _ = await iterator.next()
        #expect(admission.current == 2)
        do {
            try await admission.admit {}
            Issue.record("a third unit of work was admitted")
        } catch let error as HTTPError {
            #expect(error.status.code == 503)
            #expect(error.code == "overloaded")
            #expect(error.headers["Retry-After"] == "1")
        }
        #expect(admission.refused == 1)
        // What operators read in /metrics.
        let metrics = PrometheusRegistry()
        admission.record(into: metrics, work: "checkout")
        let text = metrics.render()
        #expect(text.contains("admission_limit{work=\"checkout\"} 2\n"), "\(text)")
        #expect(text.contains("admission_in_flight{work=\"checkout\"} 2\n"), "\(text)")
        #expect(text.contains("admission_refused{work=\"checkout\"} 1\n"), "\(text)")
        gate.continuation.finish()
        _ = try await (first, second)
        #expect(admission.current == 0)
        try await admission.admit {}
        #expect(admission.refused == 1)
    }
}

/// The adaptive limit as a state machine (time passed in), and in `Admission` with work slower than its target.
@Suite("Adaptive admission limit")
struct AdaptiveLimitTests {
    let t0 = ContinuousClock.now

    /// Feeds one window of `count` units of `latency`, ending `at` (milliseconds from t0).
    func window(_ limit: inout AdaptiveLimit, latency: Duration, count: Int = 10, at end: Int, limited: Bool = false) {
        if limited { limit.refused() }
        for n in 0..<count { limit.finished(latency: latency, now: t0 + .milliseconds(end - 250 + 250 * (n + 1) / count)) }
    }

    @Test func slowWindowsScaleItTowardsTheTargetAndFastLimitedOnesGrowItBack() {
        var limit = AdaptiveLimit(target: .milliseconds(200), floor: 4, ceiling: 64)
        #expect(limit.limit == 64)
        window(&limit, latency: .milliseconds(250), at: 250)
        window(&limit, latency: .milliseconds(250), at: 500)
        #expect(limit.limit == 51, "64 x 200 / 250: the second window closes the first judgement")
        window(&limit, latency: .milliseconds(600), at: 750)
        #expect(limit.limit == 51, "work started before the cut does not count")
        window(&limit, latency: .milliseconds(800), count: 10, at: 1250)
        window(&limit, latency: .milliseconds(800), count: 10, at: 1500)
        #expect(limit.limit == 25, "by half at most")
        for n in 7...40 { window(&limit, latency: .seconds(5), at: 250 * n * 25) }
        #expect(limit.limit == 4, "down to the floor, never below")
        var at = 250 * 41 * 25
        for _ in 0..<10 {
            at += 250
            window(&limit, latency: .milliseconds(50), at: at)
        }
        #expect(limit.limit == 4, "fast work that the limit did not hold back leaves it alone")
        for _ in 0..<10 {
            at += 250
            window(&limit, latency: .milliseconds(50), at: at, limited: true)
        }
        #expect(limit.limit == 14, "one more per fast window in which the limit held work back")
        for _ in 0..<100 {
            at += 250
            window(&limit, latency: .milliseconds(50), at: at, limited: true)
        }
        #expect(limit.limit == 64, "up to the ceiling, never above")
        var mild = AdaptiveLimit(target: .milliseconds(200), floor: 4, ceiling: 10)
        window(&mild, latency: .milliseconds(210), at: 250)
        window(&mild, latency: .milliseconds(210), at: 500)
        #expect(mild.limit == 9, "by one at least")
    }

    @Test func itStartsWhereItIsToldBetweenItsFloorAndItsCeiling() {
        #expect(AdaptiveLimit(target: .milliseconds(200), floor: 4, ceiling: 64, initial: 32).limit == 32)
        #expect(AdaptiveLimit(target: .milliseconds(200), floor: 4, ceiling: 64, initial: 1).limit == 4)
        #expect(AdaptiveLimit(target: .milliseconds(200), floor: 4, ceiling: 64, initial: 100).limit == 64)
        #expect(AdaptiveLimit(target: .milliseconds(200), floor: 4, ceiling: 64).limit == 64)
    }

    /// A slow start: an adaptive admission begins at half its maximum (a fixed one at the maximum) and grows
    /// to the maximum while the work it holds back stays within the target.
    @Test(.timeLimit(.minutes(1)))
    func admissionStartsAtHalfItsMaximumAndGrowsWhileWorkIsFast() async throws {
        #expect(Admission(limit: 64).limit == 64)
        #expect(Admission(limit: 64, latencyTarget: .seconds(1), floor: 8).limit == 32)
        #expect(Admission(limit: 4, latencyTarget: .seconds(1), floor: 8).limit == 4, "never below its floor")
        let admission = Admission(limit: 8, latencyTarget: .seconds(1), floor: 2)
        #expect(admission.limit == 4)
        // Eight workers on a limit of four: held back, and each unit far within the target, so every window
        // adds one until the maximum.
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while admission.limit < 8 {
                        do {
                            try await admission.admit { try await Task.sleep(for: .milliseconds(5)) }
                        } catch {
                            try? await Task.sleep(for: .milliseconds(1))
                        }
                    }
                }
            }
        }
        #expect(admission.limit == 8)
        #expect(admission.refused > 0, "the workers beyond the starting limit were refused")
    }

    @Test func aWindowNeedsItsTimeAndItsSamples() {
        var limit = AdaptiveLimit(target: .milliseconds(200), floor: 4, ceiling: 64)
        for n in 0..<100 { limit.finished(latency: .seconds(2), now: t0 + .milliseconds(n)) }
        #expect(limit.limit == 64, "100 slow units within 100 ms: the window is not over")
        var idle = AdaptiveLimit(target: .milliseconds(200), floor: 4, ceiling: 64)
        for n in 0..<9 { idle.finished(latency: .seconds(2), now: t0 + .seconds(n)) }
        #expect(idle.limit == 64, "nine slow units over nine seconds: too few to judge")
        idle.finished(latency: .milliseconds(10), now: t0 + .seconds(10))
        #expect(idle.limit == 32, "the tenth closes the window; its 90th percentile is slow: by half at most")
    }

    @Test func admissionShrinksItsLimitUnderWorkSlowerThanTheTarget() async throws {
        let admission = Admission(limit: 8, latencyTarget: .milliseconds(20), floor: 2)
        // Eight workers keep it full with work that takes 60 ms, three times the target, for at least 12
        // windows: the limit must come down and the workers beyond it be refused.
        let refused = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var refused = 0
                    for _ in 0..<60 {
                        do {
                            try await admission.admit { try await Task.sleep(for: .milliseconds(60)) }
                        } catch {
                            refused += 1
                            try? await Task.sleep(for: .milliseconds(10))
                        }
                    }
                    return refused
                }
            }
            return await group.reduce(0, +)
        }
        #expect(admission.limit < 8)
        #expect(admission.maximum == 8)
        #expect(refused > 0 && admission.refused == refused)
        #expect(admission.current == 0)
    }
}
