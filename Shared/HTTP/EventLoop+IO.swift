import CSystem
import Glibc

/// Waits once for a descriptor to become ready, for a deadline, or for the waiting task's cancellation.
/// Touched only on its event loop.
private final class IOWaiter: EventLoopHandler, @unchecked Sendable {
    let fd: Int32
    let loop: EventLoop
    let deadline: ContinuousClock.Instant
    private var continuation: CheckedContinuation<Void, any Error>?
    private var cancelled = false

    init(fd: Int32, loop: EventLoop, deadline: ContinuousClock.Instant) {
        self.fd = fd
        self.loop = loop
        self.deadline = deadline
    }

    /// Starts waiting, unless the task was cancelled first.
    func start(_ continuation: CheckedContinuation<Void, any Error>, events: UInt32) {
        guard !cancelled else {
            continuation.resume(throwing: CancellationError())
            return
        }
        guard loop.register(fd: fd, events: events, handler: self) else {
            // Not watched means never woken, not even by the deadline sweep: fail now rather than hang.
            let reason = String(cString: strerror(errno))
            continuation.resume(throwing: HTTPClientError(.connectionClosed, "cannot watch the connection: \(reason)"))
            return
        }
        self.continuation = continuation
    }

    func handleEvents(_ events: UInt32) {
        finish(nil)
    }

    func checkDeadline(now: ContinuousClock.Instant) {
        guard now >= deadline else { return }
        finish(HTTPClientError(.timeout, "deadline passed"))
    }

    /// The task was cancelled (a graceful shutdown of a long poll): stop waiting at once.
    func cancel() {
        cancelled = true
        finish(CancellationError())
    }

    private func finish(_ error: (any Error)?) {
        guard let continuation else { return }
        self.continuation = nil
        loop.deregister(fd: fd)
        if let error { continuation.resume(throwing: error) } else { continuation.resume() }
    }
}

extension EventLoop {
    /// Suspends until `fd` is readable (`write == false`) or writable; throws a timeout at `deadline`, and
    /// `CancellationError` when the task is cancelled.
    func waitForIO(fd: Int32, write: Bool, deadline: ContinuousClock.Instant) async throws {
        let events = (write ? EPOLLOUT.rawValue : EPOLLIN.rawValue) | EPOLLRDHUP.rawValue
        let waiter = IOWaiter(fd: fd, loop: self, deadline: deadline)
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if inEventLoop {
                    waiter.start(continuation, events: events)
                } else {
                    execute { waiter.start(continuation, events: events) }
                }
            }
        } onCancel: {
            self.execute { waiter.cancel() }
        }
    }
}
