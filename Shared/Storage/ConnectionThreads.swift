import FoundationEssentials
import Platform
import Synchronization

/// Threads that each own one database connection and run queued jobs against it.
///
/// This is how blocking libpq and sqlite3 calls stay off Swift's cooperative pool: a caller suspends on a
/// continuation while a thread of ours does the work. A thread may take several queued jobs at once
/// (`batchLimit`), which the SQLite writer uses for group commit, after waiting a moment for more when its
/// `CommitWindow` says so. A job that waited longer than `waitLimit` for a thread fails with `.timeout`
/// instead of running late.
final class ConnectionThreads<Connection>: @unchecked Sendable {
    struct Job {
        let enqueued: ContinuousClock.Instant
        /// Runs the caller's closure on a connection thread; the result is held until `deliver` is called.
        let run: (Connection) -> Outcome
        /// Delivers an error without running.
        let fail: (DatabaseError) -> Void
    }

    private let condition = ConditionLock()
    private var jobs: [Job] = []
    private var head = 0
    private var closed = false
    private var running = 0
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private let waitLimit: Duration
    private let batchLimit: Int
    /// The writer's wait for more writes before a small batch (nil: none).
    let window: CommitWindow?

    /// Starts one thread per connection. `process` runs a batch of jobs; `finish` closes a connection on its thread.
    init(
        name: String,
        connections: [Connection],
        batchLimit: Int = 1,
        window: CommitWindow? = nil,
        waitLimit: Duration = .seconds(15),
        process: @escaping (Connection, [Job]) -> Void,
        finish: @escaping (Connection) -> Void
    ) {
        self.waitLimit = waitLimit
        self.batchLimit = batchLimit
        self.window = window
        running = connections.count
        for (index, connection) in connections.enumerated() {
            // The connection moves to its thread and is never touched by another.
            let handOver = UncheckedTransfer((connection, process, finish))
            SystemThread.start(name: "\(name)-\(index)") { [self] in
                let (connection, process, finish) = handOver.value
                self.loop(connection, process: process)
                finish(connection)
                self.threadExited()
            }
        }
    }

    /// Queues a job.
    func submit(_ job: Job) {
        condition.lock()
        if closed {
            condition.unlock()
            job.fail(DatabaseError(.closed, "database is closed"))
            return
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Jobs waiting for a thread.
    var backlog: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count - head
    }

    private func loop(_ connection: Connection, process: (Connection, [Job]) -> Void) {
        // This thread's own copy: its averages follow the jobs this thread takes.
        var window = self.window
        while true {
            condition.lock()
            while head == jobs.count && !closed { condition.wait() }
            if head == jobs.count && closed {
                condition.unlock()
                return
            }
            if !closed, let pause = window?.pause(queued: jobs.count - head) {
                // Writes queued meanwhile join this batch; the submitters' signals wake nobody.
                condition.unlock()
                SystemThread.sleep(pause)
                condition.lock()
            }
            let end = min(jobs.count, head + batchLimit)
            var batch = Array(jobs[head..<end])
            head = end
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 1024 {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            let now = ContinuousClock.now
            window?.took(batch.count, at: now)
            batch.removeAll { job in
                guard now - job.enqueued > waitLimit else { return false }
                job.fail(DatabaseError(.timeout, "no database connection became free in time"))
                return true
            }
            if !batch.isEmpty { process(connection, batch) }
        }
    }

    /// Stops taking jobs; queued jobs still run. Returns when every thread has closed its connection.
    func close() async {
        await withCheckedContinuation { continuation in
            condition.lock()
            closed = true
            if running == 0 {
                condition.unlock()
                continuation.resume()
                return
            }
            closeWaiters.append(continuation)
            condition.broadcast()
            condition.unlock()
        }
    }

    private func threadExited() {
        condition.lock()
        running -= 1
        let waiters = running == 0 ? closeWaiters : []
        if running == 0 { closeWaiters = [] }
        condition.unlock()
        for waiter in waiters { waiter.resume() }
    }
}

/// The result of a job's closure, held back until its transaction's fate is known.
/// Exactly one of `deliver` (the closure's own value or error) and `fail` (a commit error) is called.
struct Outcome {
    let succeeded: Bool
    let deliver: () -> Void
    let fail: (DatabaseError) -> Void
}

extension ConnectionThreads {
    /// Runs `body` on a connection thread and returns its result to the suspended caller.
    func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            submit(
                Job(
                    enqueued: .now,
                    run: { connection in
                        do {
                            let value = try body(connection)
                            return Outcome(
                                succeeded: true,
                                deliver: { continuation.resume(returning: value) },
                                fail: { continuation.resume(throwing: $0) }
                            )
                        } catch {
                            return Outcome(
                                succeeded: false,
                                deliver: { continuation.resume(throwing: error) },
                                fail: { continuation.resume(throwing: $0) }
                            )
                        }
                    },
                    fail: { continuation.resume(throwing: $0) }
                )
            )
        }
    }
}

/// Moves a value that is not `Sendable` to another thread which becomes its only user.
struct UncheckedTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
