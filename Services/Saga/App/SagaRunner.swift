import Contracts
import CoreMetrics
import FoundationEssentials
import HTTP
import Logging
import SagaCore
import ServiceKit
import ServiceLifecycle
import Synchronization

/// Drives sagas: sends each pending command, feeds the reply to the state machine, saves the new state
/// (at every decision of its own and every compensation; a forward step's reply with the next save, see
/// `savesLazily`) and acts on the decision. Unfinished sagas are resumed when the
/// service starts; a saga interrupted by a crash re-sends its pending command with the same key.
///
/// A `Service`: its task group owns every saga in progress, and a graceful shutdown stops them at the next
/// boundary (their state is saved; the next start resumes them).
final class SagaRunner: Service, Sendable {
    let store: SagaStore
    let participants: Participants
    let stepDeadline: TimeInterval
    let logger: Logger
    let metrics: PrometheusRegistry
    let claimInterval: Duration
    private let state = Mutex<RunnerState>(RunnerState())

    private struct RunnerState {
        var active: Set<String> = []
        /// Requests waiting for a saga to finish, each with the timer that ends its wait.
        var waiters: [String: [Waiter]] = [:]
        var nextWaiter = 0
        /// Set at shutdown: no saga is started any more.
        var stopping = false
        /// The task driving each active saga, so an operator's action can stop it.
        var tasks: [String: Task<Void, Never>] = [:]
        /// Sagas an operator's action is taking over: their drivers stop without saving.
        var interrupted: Set<String> = []
        /// Sagas an operator's action holds: not driven here until `release`.
        var held: Set<String> = []
        var stopWaiters: [String: [CheckedContinuation<Void, Never>]] = [:]
        /// When each active saga's current step began (for the stuck gauge).
        var stepStarted: [String: Date] = [:]
        /// The state of each active saga whose driver knows more than its last save.
        var unsaved: [String: StoredSaga] = [:]
    }

    /// A saga is stuck when its step has run this long (a multiple of the step deadline).
    let stuckAfter: TimeInterval

    private struct Waiter {
        let number: Int
        let continuation: CheckedContinuation<StoredSaga?, Never>
        var timer: EventLoop.Timer?
    }

    init(
        store: SagaStore,
        participants: Participants,
        stepDeadline: TimeInterval,
        claimInterval: Duration,
        logger: Logger,
        metrics: PrometheusRegistry,
        stuckAfter: TimeInterval? = nil
    ) {
        self.stuckAfter = stuckAfter ?? stepDeadline * 2
        self.claimInterval = claimInterval
        self.store = store
        self.participants = participants
        self.stepDeadline = stepDeadline
        self.logger = logger
        self.metrics = metrics
    }

    func run() async throws {
        // Cancelled at graceful shutdown: backoffs and calls in progress end at once, and each saga stops at
        // its last saved boundary (the next start resumes it), so a SIGTERM does not wait for an outage.
        try? await cancelWhenGracefulShutdown { await self.claimUnowned() }
        let drivers = state.withLock { state -> [Task<Void, Never>] in
            state.stopping = true
            return Array(state.tasks.values)
        }
        for driver in drivers { driver.cancel() }
        for driver in drivers { await driver.value }
    }

    /// Unfinished sagas with a free or expired lease: those of a replica that died, and at start those this
    /// service was driving when it stopped.
    private func claimUnowned() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                // The claim also renews the leases of the sagas this process drives already: only the others
                // are news.
                let started = try await store.claim(limit: 100).filter { submit($0) }
                if !started.isEmpty { logger.info("claimed sagas", metadata: ["saga.count": "\(started.count)"]) }
                try await recordGauges()
            } catch {
                logger.warning("cannot claim sagas", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: claimInterval)
        }
    }

    /// The state of a saga this process drives, when it is ahead of the saved one (replies of forward steps
    /// wait for the next save): what the API shows of it.
    func unsavedState(_ id: String) -> StoredSaga? { state.withLock { $0.unsaved[id] } }

    /// How many sagas this process drives now.
    var activeCount: Int { state.withLock { $0.active.count } }

    /// Starts driving a saga unless this process drives it already (or is shutting down); returns whether it
    /// started. `saga` is its current state, if known.
    ///
    /// The saga's task starts at once, on the caller's event loop when called on one (a request's): its
    /// participant calls wait there like the request's own, with no hand-off through the global executor.
    @discardableResult
    func submit(_ id: String, saga: StoredSaga? = nil) -> Bool {
        let loop = EventLoopGroup.shared.next()
        return state.withLock { state in
            guard !state.stopping, !state.held.contains(id), state.active.insert(id).inserted else { return false }
            // Detached: none of the request's task-locals (its deadline above all) may bound the saga. Set
            // under the lock that the task's end takes to remove it.
            state.tasks[id] = Task.detached(executorPreference: loop) { await self.drive(id, known: saga) }
            return true
        }
    }

    /// Waits until the saga this process drives finishes, up to `timeout`. Returns its final state, or nil
    /// when it did not finish in time or is not driven here (the caller then reads the store).
    func waitUntilFinished(_ id: String, timeout: Duration) async -> StoredSaga? {
        let loop = EventLoopGroup.shared.next()
        return await withCheckedContinuation { continuation in
            let number = state.withLock { state -> Int? in
                guard state.active.contains(id) else { return nil }
                state.nextWaiter += 1
                state.waiters[id, default: []].append(Waiter(number: state.nextWaiter, continuation: continuation))
                return state.nextWaiter
            }
            guard let number else { return continuation.resume(returning: nil) }
            let timer = loop.schedule(at: .now + timeout) { self.endWait(id, number) }
            // The saga may have finished meanwhile: then its waiters were woken and the timer is not needed.
            let kept = state.withLock { state -> Bool in
                guard let index = state.waiters[id]?.firstIndex(where: { $0.number == number }) else { return false }
                state.waiters[id]?[index].timer = timer
                return true
            }
            if !kept { timer.cancel() }
        }
    }

    /// A wait's time is up: its request reads the stored state instead.
    private func endWait(_ id: String, _ number: Int) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters[id]?.firstIndex(where: { $0.number == number }) else { return nil }
            let waiter = state.waiters[id]?.remove(at: index)
            if state.waiters[id]?.isEmpty == true { state.waiters[id] = nil }
            return waiter
        }
        waiter?.continuation.resume(returning: nil)
    }

    /// Resumes everyone waiting on this saga.
    private func wake(_ id: String, with saga: StoredSaga?) {
        let waiters = state.withLock { state -> [Waiter] in
            defer { state.waiters[id] = nil }
            return state.waiters[id] ?? []
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: saga)
        }
    }

    /// Stops driving a saga here (an operator's action is about to change it): its driver stops at once,
    /// without saving what it was doing (the command is sent again, with the same key, by the next driver).
    /// Returns when no task of this process drives it.
    /// The saga stays held (the claim loop does not start it again) until `release`.
    func takeOver(_ id: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let task = state.withLock { state -> Task<Void, Never>?? in
                state.held.insert(id)
                guard state.active.contains(id) else { return .none }
                state.interrupted.insert(id)
                state.stopWaiters[id, default: []].append(continuation)
                return .some(state.tasks[id])
            }
            switch task {
            case .none: continuation.resume()
            case .some(let task): task?.cancel()
            }
        }
    }

    /// Ends an operator's hold and drives the saga again (whatever its action did to it).
    func release(_ id: String) {
        _ = state.withLock { $0.held.remove(id) }
        submit(id)
    }

    /// Publishes `sagas_stuck` (driven here, their step running longer than `stuckAfter`) and `sagas_failed`
    /// (parked for an operator), for alerts.
    private func recordGauges() async throws {
        let now = Date()
        let stuck = state.withLock { $0.stepStarted.values.filter { now.timeIntervalSince($0) > stuckAfter }.count }
        Gauge(label: "sagas_stuck", factory: metrics).record(stuck)
        Gauge(label: "sagas_failed", factory: metrics).record(try await store.count(status: .failed))
    }

    private func interrupted(_ id: String) -> Bool { Task.isCancelled || state.withLock { $0.interrupted.contains(id) } }

    private func drive(_ id: String, known: StoredSaga?) async {
        var finished: StoredSaga?
        defer {
            let stopWaiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.active.remove(id)
                state.tasks[id] = nil
                state.interrupted.remove(id)
                state.stepStarted[id] = nil
                state.unsaved[id] = nil
                return state.stopWaiters.removeValue(forKey: id) ?? []
            }
            wake(id, with: finished)
            for waiter in stopWaiters { waiter.resume() }
        }
        var loaded = known
        if loaded == nil { loaded = await loadRetrying(id) }
        guard var saga = loaded else { return }
        // The state last saved: each save logs what changed since it. `unsaved`: the replies of forward
        // steps since then, kept here until the next save (see `savesLazily`).
        var saved = saga
        var savedAt = ContinuousClock.now
        var unsaved = false
        while !saga.status.isFinished {
            if Task.isShuttingDownGracefully || interrupted(id) {
                // Stopped at a boundary: what this driver knows is saved for the next one (or the operator).
                if unsaved { _ = await saveRetrying(saga, previous: saved) }
                return
            }
            state.withLock { $0.stepStarted[id] = saga.progress.stepStartedAt }
            let before = saga
            let progress = await saga.advance(participants, stepDeadline: stepDeadline)
            // Cancelled by a shutdown, or taken over by an operator, in the middle of a call: its reply is
            // unknown, so only what came before it is saved; the next driver sends the command again with
            // the same key.
            if interrupted(id) {
                if unsaved { _ = await saveRetrying(before, previous: saved) }
                return
            }
            if await Faults.shared.visit("saga.after_reply", before.pendingCommand?.name ?? "") != nil {
                // An injected failure here loses the reply, as a crash would: send again after a backoff.
                saga = before
                try? await Task.sleep(for: Self.backoff(attempt: 1))
                continue
            }
            if case .next = progress, Self.savesLazily(saga, saved: saved), savedAt.duration(to: .now) < Self.lazySaveWindow {
                unsaved = true
                state.withLock { [saga] in $0.unsaved[id] = saga }
                continue
            }
            guard await saveRetrying(saga, previous: saved) else { return }
            saved = saga
            savedAt = .now
            if unsaved { state.withLock { _ = $0.unsaved.removeValue(forKey: id) } }
            unsaved = false
            switch progress {
            case .next:
                continue
            case .retry(let attempt):
                try? await Task.sleep(for: Self.backoff(attempt: attempt))
            case .finished(let status):
                finished = saga
                Counter(label: "sagas_finished_total", dimensions: [("kind", saga.kind), ("status", status.rawValue)], factory: metrics)
                    .increment()
                logger.info(
                    "saga finished",
                    metadata: [
                        "saga.id": "\(saga.id)", "saga.kind": "\(saga.kind)", "saga.status": "\(status.rawValue)",
                        "saga.failure": "\(saga.failureCode ?? "")",
                    ]
                )
            }
        }
    }

    /// Whether a forward step's reply may wait for the next save instead of a commit of its own: while the
    /// saga runs forward from a saved running state. A reply it loses in a crash is not lost: every command
    /// is idempotent at its participant (key and result recorded with the effect), so the next driver sends
    /// the steps since the saved state again and gets the same replies. What the saga decides on its own
    /// (to compensate, to fail, to finish) is saved before it acts on it, and so is every compensation;
    /// an operator's forced compensation undoes every compensable step before the pivot (the saved state
    /// may be behind); a takeover or a shutdown saves what the driver knows first. A checkout commits twice
    /// (its start and its end) instead of at each of its 7 boundaries.
    static func savesLazily(_ saga: StoredSaga, saved: StoredSaga) -> Bool {
        saga.status == .running && saved.status == .running
    }

    /// How long replies may wait unsaved: a slow saga still shows its progress (console, API) every second.
    static let lazySaveWindow = Duration.seconds(1)

    /// The pause before retrying a step or a save: the client's exponential backoff with full jitter,
    /// from 50 ms doubling up to 2 s.
    static let retryPolicy = RetryPolicy(initialBackoff: .milliseconds(50), maxBackoff: .seconds(2))

    static func backoff(attempt: Int) -> Duration { retryPolicy.backoff(attempt: attempt) }

    private func loadRetrying(_ id: String) async -> StoredSaga? {
        for attempt in 1...20 {
            do {
                return try await store.load(id)
            } catch {
                logger.warning("cannot load saga", metadata: ["saga.id": "\(id)", "error": "\(error)"])
                try? await Task.sleep(for: Self.backoff(attempt: attempt))
            }
        }
        return nil
    }

    /// Saves the saga's state and renews the lease. Returns false when the saga must not be driven on: the
    /// lease went to another replica (it expired while this one was stalled), or the database stayed down
    /// (a replica, or this one after a restart, claims it again).
    private func saveRetrying(_ saga: StoredSaga, previous: StoredSaga) async -> Bool {
        for attempt in 1...20 {
            do {
                if try await store.save(saga, previous: previous) { return true }
                logger.warning("lost the lease of a saga: another replica drives it", metadata: ["saga.id": "\(saga.id)"])
                return false
            } catch {
                logger.warning("cannot save saga", metadata: ["saga.id": "\(saga.id)", "error": "\(error)"])
                try? await Task.sleep(for: Self.backoff(attempt: attempt))
            }
        }
        return false
    }
}
