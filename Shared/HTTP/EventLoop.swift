import CSystem
import FoundationEssentials
import Glibc
import Platform
import Synchronization

/// Something that owns a file descriptor registered with an event loop. Called on the loop's thread only.
protocol EventLoopHandler: AnyObject {
    /// The descriptor became readable, writable, or reported an error or hang-up (`epoll_event.events`).
    func handleEvents(_ events: UInt32)
    /// Called a few times a second so the handler can enforce its timeouts.
    func checkDeadline(now: ContinuousClock.Instant)
}

/// One thread running an epoll loop that is also a `TaskExecutor`.
///
/// Connections accepted by a loop are served on its thread, and their handlers run there too (the
/// server starts each handler task with this loop as its executor preference), so a request is read,
/// handled and answered without a hand-off between CPUs. The loop also runs closures submitted with
/// `execute(_:)`, which is how other threads touch loop-confined state. Blocking calls never run here.
public final class EventLoop: TaskExecutor, @unchecked Sendable {
    private enum Work {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    private struct Queue {
        var work: [Work] = []
        var wakePending = false
    }

    /// Loop-confined: the batch being run, swapped with the queue's array so neither is reallocated.
    private var running: [Work] = []

    let epollFD: Int32
    private let wakeFD: Int32
    private let queue = Mutex(Queue())
    /// The loop thread's id once it runs (0 before): read on every submission and every response, so an
    /// atomic load rather than a lock.
    private let threadID = Atomic<pthread_t>(0)
    private let stopped = Atomic<Bool>(false)
    /// Loop-confined: the handler for each registered descriptor.
    private var handlers: [Int32: EventLoopHandler] = [:]
    /// Loop-confined: a scratch buffer for socket reads, allocated once.
    let readScratch: UnsafeMutableRawBufferPointer
    private var lastSweep = ContinuousClock.now
    private let sweepInterval = Duration.milliseconds(50)
    private var cachedDate: (second: Int, value: String) = (0, "")
    /// Loop-confined: timers not yet due, by deadline, and the work of each one not cancelled.
    private var timerQueue = TimerQueue()
    private var timerWork: [UInt64: () -> Void] = [:]
    private let timerIDs = Atomic<UInt64>(0)
    let name: String

    init(name: String) {
        self.name = name
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epollFD >= 0, "epoll_create1 failed: errno \(errno)")
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(wakeFD >= 0, "eventfd failed: errno \(errno)")
        readScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeFD
        precondition(epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0)
    }

    deinit {
        close(epollFD)
        close(wakeFD)
        readScratch.deallocate()
    }

    /// True when called on this loop's thread.
    public var inEventLoop: Bool {
        let id = threadID.load(ordering: .acquiring)
        return id != 0 && pthread_equal(id, pthread_self()) != 0
    }

    // MARK: Executor

    public func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    /// Runs `body` on the loop's thread, soon, in submission order.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        submit(.closure(body))
    }

    private func submit(_ work: Work) {
        let wake = queue.withLock { q -> Bool in
            q.work.append(work)
            if q.wakePending { return false }
            q.wakePending = true
            return true
        }
        if wake && !inEventLoop {
            var one: UInt64 = 1
            _ = Glibc.write(wakeFD, &one, 8)
        }
    }

    // MARK: Registration (loop thread only)

    /// Watches `fd` for `events`; false (with `errno` set) when epoll refused it, and then the handler is
    /// never called: its owner must not wait for it.
    @discardableResult
    func register(fd: Int32, events: UInt32, handler: EventLoopHandler) -> Bool {
        assert(inEventLoop)
        var event = epoll_event()
        event.events = events
        event.data.fd = fd
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else { return false }
        handlers[fd] = handler
        return true
    }

    func modify(fd: Int32, events: UInt32) {
        assert(inEventLoop)
        var event = epoll_event()
        event.events = events
        event.data.fd = fd
        _ = epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event)
    }

    func deregister(fd: Int32) {
        assert(inEventLoop)
        if handlers.removeValue(forKey: fd) != nil {
            _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
        }
    }

    /// Stops watching `fd` but keeps its handler, whose `checkDeadline` goes on being called (so it can
    /// `resume` itself later).
    func suspend(fd: Int32) {
        assert(inEventLoop)
        if handlers[fd] != nil { _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil) }
    }

    /// Watches a suspended `fd` again.
    func resume(fd: Int32, events: UInt32) {
        assert(inEventLoop)
        guard handlers[fd] != nil else { return }
        var event = epoll_event()
        event.events = events
        event.data.fd = fd
        _ = epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
    }

    // MARK: Timers

    /// Runs `body` on the loop's thread at `deadline` (to the millisecond, epoll's resolution), unless the
    /// returned timer is cancelled first. From any thread.
    ///
    /// The loop's own `epoll_wait` timeout is the clock: a sleeping task wakes on its loop, without a timer
    /// thread of Dispatch's waking to hand it over (what `Task.sleep` does).
    @discardableResult
    public func schedule(at deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () -> Void) -> Timer {
        let id = timerIDs.add(1, ordering: .relaxed).newValue
        if inEventLoop {
            addTimer(id, deadline, body)
        } else {
            execute { self.addTimer(id, deadline, body) }
        }
        return Timer(loop: self, id: id)
    }

    /// A timer `schedule` set.
    public struct Timer: Sendable {
        let loop: EventLoop
        let id: UInt64

        /// Its work will not run, unless it runs already. From any thread.
        public func cancel() {
            if loop.inEventLoop {
                loop.timerWork[id] = nil
            } else {
                loop.execute { [loop, id] in loop.timerWork[id] = nil }
            }
        }
    }

    private func addTimer(_ id: UInt64, _ deadline: ContinuousClock.Instant, _ body: @escaping () -> Void) {
        timerWork[id] = body
        timerQueue.insert(deadline: deadline, id: id)
        // Cancelled timers stay queued until their deadline: drop them once they are most of the queue (a
        // saga's wait is set for seconds and cancelled within milliseconds, hundreds of times a second).
        if timerQueue.count > 1024 && timerQueue.count > 4 * timerWork.count {
            timerQueue.removeAll { timerWork[$0] == nil }
        }
    }

    /// Timers queued, cancelled ones not yet dropped included (loop thread only).
    var pendingTimerCount: Int { timerQueue.count }

    /// Runs the timers that are due; returns how long until the next (nil when none is set).
    private func runDueTimers() -> Duration? {
        guard !timerQueue.isEmpty else { return nil }
        let now = ContinuousClock.now
        while let next = timerQueue.first {
            if next.deadline > now { return next.deadline - now }
            timerQueue.removeFirst()
            timerWork.removeValue(forKey: next.id)?()
        }
        return nil
    }

    /// The loop whose thread runs the caller, if any.
    public static var current: EventLoop? {
        guard let pointer = pthread_getspecific(currentKey) else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(pointer).takeUnretainedValue()
    }

    private static let currentKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0)
        return key
    }()

    /// Suspends the calling task for `duration`, like `Task.sleep(for:)` (cancellation ends it with
    /// `CancellationError`), but woken by the loop running the task when there is one.
    public static func sleep(for duration: Duration) async throws {
        guard let loop = current else {
            try await Task.sleep(for: duration)
            return
        }
        let deadline = ContinuousClock.now + duration
        let sleeper = Sleeper()
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                guard sleeper.arm(continuation) else { return }
                let timer = loop.schedule(at: deadline) { sleeper.resume(nil) }
                if !sleeper.keep(timer) { timer.cancel() }
            }
        } onCancel: {
            sleeper.resume(CancellationError())
        }
    }

    /// One sleep's continuation, resumed once: by its timer or by its task's cancellation, whichever
    /// comes first (the other finds nothing to do).
    private final class Sleeper: Sendable {
        private struct State {
            var continuation: UnsafeContinuation<Void, any Error>?
            var timer: Timer?
            var done = false
        }
        private let state = Mutex(State())

        /// False (and the continuation resumed) when the task was cancelled already.
        func arm(_ continuation: UnsafeContinuation<Void, any Error>) -> Bool {
            let cancelled = state.withLock { state -> Bool in
                if state.done { return true }
                state.continuation = continuation
                return false
            }
            if cancelled { continuation.resume(throwing: CancellationError()) }
            return !cancelled
        }

        /// False when the sleep ended before its timer was set (the timer is not needed).
        func keep(_ timer: Timer) -> Bool {
            state.withLock { state -> Bool in
                if state.done { return false }
                state.timer = timer
                return true
            }
        }

        func resume(_ error: (any Error)?) {
            let (continuation, timer) = state.withLock { state -> (UnsafeContinuation<Void, any Error>?, Timer?) in
                guard !state.done else { return (nil, nil) }
                state.done = true
                defer { state.continuation = nil }
                return (state.continuation, state.timer)
            }
            guard let continuation else { return }
            // Woken by cancellation: the timer's work is no longer wanted.
            if error != nil { timer?.cancel() }
            if let error { continuation.resume(throwing: error) } else { continuation.resume() }
        }
    }

    /// Handlers registered on this loop (loop thread only).
    var registeredHandlers: [EventLoopHandler] { Array(handlers.values) }

    /// The current time as an IMF-fixdate for the `Date` header (RFC 9110 section 5.6.7), formatted once a second.
    func httpDate() -> String {
        var now = time_t()
        time(&now)
        let second = Int(now)
        if cachedDate.second != second {
            var tm = tm()
            gmtime_r(&now, &tm)
            var buffer = [CChar](repeating: 0, count: 64)
            let count = strftime(&buffer, 64, "%a, %d %b %Y %H:%M:%S GMT", &tm)
            cachedDate = (second, String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return cachedDate.value
    }

    // MARK: Running

    func start() {
        SystemThread.start(name: name) { [self] in
            pthread_setspecific(Self.currentKey, Unmanaged.passUnretained(self).toOpaque())
            self.threadID.store(pthread_self(), ordering: .releasing)
            self.run()
        }
        while threadID.load(ordering: .acquiring) == 0 { usleep(100) }
    }

    /// Ends the loop after its current iteration. Registered descriptors are left to their owners.
    func stop() {
        stopped.store(true, ordering: .releasing)
        execute {}
    }

    private func run() {
        let maxEvents = 256
        var events = [epoll_event](repeating: epoll_event(), count: maxEvents)
        while !stopped.load(ordering: .acquiring) {
            let pending = runQueuedWork()
            var timeout: Int32 = 50
            if pending {
                timeout = 0
            } else if let untilTimer = runDueTimers() {
                // Rounded up: a timer is never run early, at the cost of up to a millisecond late.
                timeout = Int32(min(Int64(timeout), max(0, untilTimer.wholeMilliseconds(roundingUp: true))))
            }
            let count = events.withUnsafeMutableBufferPointer { epoll_wait(epollFD, $0.baseAddress, Int32(maxEvents), timeout) }
            if count > 0 {
                for index in 0..<Int(count) {
                    let event = events[index]
                    let fd = event.data.fd
                    if fd == wakeFD {
                        var value: UInt64 = 0
                        _ = Glibc.read(wakeFD, &value, 8)
                        continue
                    }
                    handlers[fd]?.handleEvents(event.events)
                }
            }
            _ = runDueTimers()
            let now = ContinuousClock.now
            if now - lastSweep >= sweepInterval {
                lastSweep = now
                for handler in Array(handlers.values) {
                    handler.checkDeadline(now: now)
                }
            }
        }
    }

    /// Runs the work queued so far; returns whether more work arrived meanwhile.
    private func runQueuedWork() -> Bool {
        var batch = running
        running = []
        queue.withLock { q in
            swap(&q.work, &batch)
            q.wakePending = false
        }
        let executor = asUnownedTaskExecutor()
        for work in batch {
            switch work {
            case .job(let job): job.runSynchronously(on: executor)
            case .closure(let body): body()
            }
        }
        batch.removeAll(keepingCapacity: true)
        running = batch
        return queue.withLock { !$0.work.isEmpty }
    }
}

/// A binary min-heap of timers by deadline (ties in the order set, by id).
struct TimerQueue {
    typealias Entry = (deadline: ContinuousClock.Instant, id: UInt64)

    private var heap: [Entry] = []

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }
    var first: Entry? { heap.first }

    private static func earlier(_ a: Entry, _ b: Entry) -> Bool {
        a.deadline < b.deadline || (a.deadline == b.deadline && a.id < b.id)
    }

    mutating func insert(deadline: ContinuousClock.Instant, id: UInt64) {
        heap.append((deadline, id))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.earlier(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes the timers whose id `cancelled` says; what remains is sorted, which is a heap.
    mutating func removeAll(where cancelled: (UInt64) -> Bool) {
        heap.removeAll { cancelled($0.id) }
        heap.sort(by: Self.earlier)
    }

    mutating func removeFirst() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < heap.count && Self.earlier(heap[left], heap[first]) { first = left }
            if right < heap.count && Self.earlier(heap[right], heap[first]) { first = right }
            if first == parent { return }
            heap.swapAt(parent, first)
            parent = first
        }
    }
}

/// A fixed set of event loops, one per usable core by default, handed out round robin.
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    private let counter = Atomic<Int>(0)

    public init(threads: Int = System.usableCores, name: String = "http") {
        loops = (0..<max(1, threads)).map { EventLoop(name: "\(name)-\($0)") }
        for loop in loops { loop.start() }
    }

    /// The group every server and client in a process shares unless told otherwise: `configureShared`'s
    /// count of loops when it was called first, else one per usable core.
    public static let shared: EventLoopGroup = {
        sharedStarted.store(true, ordering: .sequentiallyConsistent)
        let threads = sharedThreads.load(ordering: .sequentiallyConsistent)
        return EventLoopGroup(threads: threads > 0 ? threads : System.usableCores)
    }()

    private static let sharedThreads = Atomic<Int>(0)
    private static let sharedStarted = Atomic<Bool>(false)

    /// How many loops `shared` starts (a service's `EVENT_LOOPS`). Only before its first use: false, and
    /// nothing changed, once it runs.
    @discardableResult
    public static func configureShared(threads: Int) -> Bool {
        precondition(threads > 0, "an event loop group needs a loop")
        sharedThreads.store(threads, ordering: .sequentiallyConsistent)
        return !sharedStarted.load(ordering: .sequentiallyConsistent)
    }

    /// The loop running the caller if it is one of ours, else the next in turn.
    public func next() -> EventLoop {
        if let current = loops.first(where: { $0.inEventLoop }) { return current }
        let index = counter.add(1, ordering: .relaxed).newValue
        return loops[index % loops.count]
    }

    /// Stops every loop. Only for groups a test or tool made itself; the shared group lives as long as the process.
    public func shutdown() {
        for loop in loops { loop.stop() }
    }
}

/// Facts about the machine.
public enum System {
    /// Online processor cores.
    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// The cores this process can use: the online ones, no more than its CPU affinity allows (taskset, a
    /// container's cpuset) nor its control group's CPU quota, rounded up (a container's `cpus: 1.5` is 2).
    public static var usableCores: Int {
        var cores = coreCount
        let affinity = Int(sagamart_affinity_cpus())
        if affinity > 0 { cores = min(cores, affinity) }
        if let quota = cgroupQuotaCores() { cores = min(cores, quota) }
        return max(1, cores)
    }

    /// The CPU quota of the process's control group in whole cores, or nil when it has none: cgroup v2's
    /// `cpu.max`, else v1's `cpu.cfs_quota_us` over `cpu.cfs_period_us`, where a container runtime mounts
    /// the container's own group.
    static func cgroupQuotaCores(root: String = "/sys/fs/cgroup") -> Int? {
        if let text = smallFile(root + "/cpu.max") { return quotaCores(cpuMax: text) }
        guard let quota = smallFile(root + "/cpu/cpu.cfs_quota_us"), let period = smallFile(root + "/cpu/cpu.cfs_period_us")
        else { return nil }
        return quotaCores(cpuMax: quota + " " + period)
    }

    /// Whole cores from `<quota> <period>` (microseconds, rounded up), or nil for no quota (`max`, or v1's -1).
    static func quotaCores(cpuMax text: String) -> Int? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 2, let quota = Int(fields[0]), let period = Int(fields[1]), quota > 0, period > 0 else { return nil }
        return max(1, (quota + period - 1) / period)
    }

    /// A file of at most 256 bytes (a kernel setting), or nil.
    private static func smallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}
