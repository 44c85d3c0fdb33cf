import CoreMetrics
import HTTP
import Synchronization

/// Admission control: at most `limit` units of work in progress; beyond it, work is refused at once with
/// 503 and `Retry-After` (never left to time out in a queue), so the work admitted keeps its latency when
/// more arrives than the system can do.
///
/// With a latency target the limit adapts (`AdaptiveLimit`): it shrinks while the admitted work is slower
/// than the target and grows back while it is faster and the limit is what holds work back, between a floor
/// and the configured limit. A fixed limit is right for one machine and one load only; the number of
/// checkouts the system can carry at a given latency is its throughput times that latency, which changes
/// with the hardware, the database and the mix of work.
public final class Admission: Sendable {
    /// The configured limit: the ceiling of an adaptive one.
    public let maximum: Int
    private let inFlight = Atomic<Int>(0)
    private let refusedCount = Atomic<Int>(0)
    /// The adaptive limit, nil when the limit is fixed (`adapts` false).
    private let adaptive: Mutex<AdaptiveLimit?>
    private let adapts: Bool
    private let currentLimit: Atomic<Int>

    /// An adaptive limit starts at half of `limit` and grows while the work stays within the target (a slow
    /// start): started at the maximum, the first burst of 256 clients filled 64 places before the first window
    /// could judge, and that second's latency (p99 381 ms) made the whole run's p99 341 ms.
    public init(limit: Int, latencyTarget: Duration? = nil, floor: Int = 8) {
        maximum = limit
        let adaptive = latencyTarget.map {
            AdaptiveLimit(target: $0, floor: min(floor, limit), ceiling: limit, initial: max(min(floor, limit), limit / 2))
        }
        self.adaptive = Mutex(adaptive)
        adapts = latencyTarget != nil
        currentLimit = Atomic(adaptive?.limit ?? limit)
    }

    /// The limit now (the configured one unless it adapts).
    public var limit: Int { currentLimit.load(ordering: .relaxed) }
    public var current: Int { inFlight.load(ordering: .relaxed) }
    public var refused: Int { refusedCount.load(ordering: .relaxed) }

    /// Runs `work` if there is room, else throws the 503.
    public func admit<T>(_ work: () async throws -> T) async throws -> T {
        let inProgress = inFlight.add(1, ordering: .acquiring).newValue
        guard inProgress <= limit else {
            inFlight.subtract(1, ordering: .releasing)
            refusedCount.add(1, ordering: .relaxed)
            if adapts { adaptive.withLock { $0?.refused() } }
            throw Self.overloaded
        }
        defer { inFlight.subtract(1, ordering: .releasing) }
        guard adapts else { return try await work() }
        let clock = ContinuousClock()
        let started = clock.now
        if inProgress == limit { adaptive.withLock { $0?.refused() } }
        // Failed work counts too: a checkout that timed out is the slowest of all.
        defer {
            let now = clock.now
            let limit = adaptive.withLock { limit in
                limit?.finished(latency: now - started, now: now)
                return limit?.limit ?? maximum
            }
            currentLimit.store(limit, ordering: .relaxed)
        }
        return try await work()
    }

    /// Writes the admission's state as gauges, read when `/metrics` is rendered (nothing on the request path):
    /// `admission_limit{work}` (the limit now, which adapts), `admission_in_flight{work}` and
    /// `admission_refused{work}` (refused so far).
    public func record(into metrics: PrometheusRegistry, work: String) {
        let dimensions = [("work", work)]
        Gauge(label: "admission_limit", dimensions: dimensions, factory: metrics).record(limit)
        Gauge(label: "admission_in_flight", dimensions: dimensions, factory: metrics).record(current)
        Gauge(label: "admission_refused", dimensions: dimensions, factory: metrics).record(refused)
    }

    /// `503 overloaded` with `Retry-After: 1`.
    public static let overloaded = HTTPError(
        .serviceUnavailable,
        code: "overloaded",
        detail: "More checkouts are in progress than the system can take; try again in a moment.",
        headers: HTTPHeaders([("Retry-After", "1")])
    )
}

/// A limit of work in progress that follows a latency target, over windows of finished work (time passed
/// in, no clock of its own):
/// - a window whose 90th percentile latency is over the target scales the limit by target / latency (by
///   Little's law a saturated system's latency grows with the work in it, so this is the limit that meets
///   the target), by half at most and by one at least, down to `floor`;
/// - a window within the target in which the limit was reached (work was refused or took the last place)
///   adds one, up to `ceiling`;
/// - otherwise the limit stays.
/// A window closes after `window` and at least `minimumSamples` finished units, so one slow unit on an idle
/// system does not move it; after a change only work started since counts, so the queue built before a cut
/// is not cut for twice (a first version without this, cutting a tenth per window, fell to its floor under
/// 256 clients and lost 40 % of the throughput).
public struct AdaptiveLimit: Sendable, Equatable {
    public let target: Duration
    public let floor: Int
    public let ceiling: Int
    public let window: Duration
    public let minimumSamples: Int
    public private(set) var limit: Int
    private var windowStart: ContinuousClock.Instant?
    private var changedAt: ContinuousClock.Instant?
    private var samples: [Duration] = []
    private var limited = false

    /// `initial`: where the limit starts (the ceiling unless told).
    public init(
        target: Duration,
        floor: Int,
        ceiling: Int,
        initial: Int? = nil,
        window: Duration = .milliseconds(250),
        minimumSamples: Int = 10
    ) {
        self.target = target
        self.floor = max(1, min(floor, ceiling))
        self.ceiling = ceiling
        self.window = window
        self.minimumSamples = minimumSamples
        limit = min(ceiling, max(self.floor, initial ?? ceiling))
    }

    /// The limit held work back (a unit was refused, or took the last place).
    public mutating func refused() { limited = true }

    /// A unit of admitted work finished after `latency`.
    public mutating func finished(latency: Duration, now: ContinuousClock.Instant) {
        if let changedAt, now - latency < changedAt { return }
        if samples.count < 4096 { samples.append(latency) }
        let start = windowStart ?? now
        windowStart = start
        guard now - start >= window, samples.count >= minimumSamples else { return }
        samples.sort()
        let p90 = samples[min(samples.count - 1, samples.count * 9 / 10)]
        let before = limit
        if p90 > target {
            let scaled = Int((Double(limit) * (target / p90)).rounded(.down))
            limit = max(floor, min(limit - 1, max(limit / 2, scaled)))
        } else if limited {
            limit = min(ceiling, limit + 1)
        }
        if limit < before { changedAt = now }
        samples.removeAll(keepingCapacity: true)
        limited = false
        windowStart = now
    }
}
