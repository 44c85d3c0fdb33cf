/// A circuit breaker for one destination, as a pure state machine (time passed in).
///
/// Closed, it lets calls through and keeps the outcomes of the last `window`: when at least
/// `minimumCalls` of them are recorded and `failureThreshold` or more (and `failureRatio` of them)
/// failed, it opens. Open, it fails
/// calls at once, without connecting, for `openDuration`; then it is half-open and lets one call through
/// as a probe: a success closes it, a failure opens it again for twice as long (up to `maxOpenDuration`).
public struct CircuitBreaker: Sendable, Equatable {
    public struct Policy: Sendable, Equatable {
        public var window: Duration
        public var minimumCalls: Int
        public var failureThreshold: Int
        /// The share of the window's calls that must have failed too (a busy peer's few failures do not
        /// open it).
        public var failureRatio: Double
        public var openDuration: Duration
        public var maxOpenDuration: Duration

        public init(
            window: Duration = .seconds(10),
            minimumCalls: Int = 5,
            failureThreshold: Int = 5,
            failureRatio: Double = 0.5,
            openDuration: Duration = .seconds(1),
            maxOpenDuration: Duration = .seconds(4)
        ) {
            self.failureRatio = failureRatio
            self.window = window
            self.minimumCalls = minimumCalls
            self.failureThreshold = failureThreshold
            self.openDuration = openDuration
            self.maxOpenDuration = maxOpenDuration
        }

        /// No breaker: every call goes through.
        public static let off = Policy(minimumCalls: .max, failureThreshold: .max)
    }

    public enum State: Sendable, Equatable {
        case closed
        case open(until: ContinuousClock.Instant)
        case halfOpen(probing: Bool)

        /// 0 closed, 1 half-open, 2 open: the gauge `http_client_breaker_state`.
        public var gaugeValue: Int {
            switch self {
            case .closed: return 0
            case .halfOpen: return 1
            case .open: return 2
            }
        }
    }

    public let policy: Policy
    public private(set) var state: State = .closed
    /// Outcomes in the window, oldest first from `head` on: when, and whether it failed. Recording is O(1)
    /// amortised (the front is dropped by moving `head`, the array compacted now and then): a saga's every
    /// call records, and the array walk it replaced was 4 % of the saga's CPU under load.
    private var outcomes: [(at: ContinuousClock.Instant, failed: Bool)] = []
    private var head = 0
    /// The failures among the kept outcomes.
    private var failures = 0
    private var nextOpenDuration: Duration

    public init(policy: Policy = Policy()) {
        self.policy = policy
        nextOpenDuration = policy.openDuration
    }

    public static func == (lhs: CircuitBreaker, rhs: CircuitBreaker) -> Bool { lhs.state == rhs.state && lhs.policy == rhs.policy }

    /// Whether a call may go now; a half-open breaker lets one probe through. When not, how long until the
    /// breaker lets a probe through (for `Retry-After`).
    public mutating func allow(now: ContinuousClock.Instant) -> (allowed: Bool, retryAfter: Duration) {
        switch state {
        case .closed:
            return (true, .zero)
        case .open(let until):
            guard now >= until else { return (false, until - now) }
            state = .halfOpen(probing: true)
            return (true, .zero)
        case .halfOpen(let probing):
            if probing { return (false, policy.openDuration) }
            state = .halfOpen(probing: true)
            return (true, .zero)
        }
    }

    /// Records how an allowed call went.
    public mutating func record(failed: Bool, now: ContinuousClock.Instant) {
        switch state {
        case .halfOpen:
            if failed {
                open(now: now)
            } else {
                state = .closed
                forgetOutcomes()
                nextOpenDuration = policy.openDuration
            }
        case .open:
            // A call let through before the breaker opened: its outcome is old news.
            break
        case .closed:
            outcomes.append((now, failed))
            if failed { failures += 1 }
            let start = now - policy.window
            while head < outcomes.count && (outcomes[head].at < start || outcomes.count - head > 1000) {
                if outcomes[head].failed { failures -= 1 }
                head += 1
            }
            if head >= 256 && head * 2 >= outcomes.count {
                outcomes.removeFirst(head)
                head = 0
            }
            let kept = outcomes.count - head
            if kept >= policy.minimumCalls && failures >= policy.failureThreshold
                && Double(failures) >= policy.failureRatio * Double(kept)
            {
                open(now: now)
            }
        }
    }

    private mutating func forgetOutcomes() {
        outcomes.removeAll(keepingCapacity: true)
        head = 0
        failures = 0
    }

    /// An allowed call ended without an outcome (cancelled): a half-open breaker may probe again.
    public mutating func abandon() {
        if case .halfOpen(true) = state { state = .halfOpen(probing: false) }
    }

    private mutating func open(now: ContinuousClock.Instant) {
        state = .open(until: now + nextOpenDuration)
        nextOpenDuration = min(nextOpenDuration * 2, policy.maxOpenDuration)
        forgetOutcomes()
    }
}
