import CSystem
import Glibc

/// Waits once for a descriptor to become ready, or for a deadline.
private final class IOWaiter: EventLoopHandler, @unchecked Sendable {
    let fd: Int32
    let loop: EventLoop
    let deadline: ContinuousClock.Instant
    private var continuation: CheckedContinuation<Void, any Error>?

    init(fd: Int32, loop: EventLoop, deadline: ContinuousClock.Instant, continuation: CheckedContinuation<Void, any Error>) {
        self.fd = fd
        self.loop = loop
        self.deadline = deadline
        self.continuation = continuation
    }

    func handleEvents(_ events: UInt32) {
        loop.deregister(fd: fd)
        continuation?.resume()
        continuation = nil
    }

    func checkDeadline(now: ContinuousClock.Instant) {
        guard now >= deadline else { return }
        loop.deregister(fd: fd)
        continuation?.resume(throwing: HTTPClientError(.timeout, "deadline passed"))
        continuation = nil
    }
}

extension EventLoop {
    /// Suspends until `fd` is readable (`write == false`) or writable, or throws a timeout at `deadline`.
    func waitForIO(fd: Int32, write: Bool, deadline: ContinuousClock.Instant) async throws {
        let events = (write ? EPOLLOUT.rawValue : EPOLLIN.rawValue) | EPOLLRDHUP.rawValue
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let register: @Sendable () -> Void = {
                let waiter = IOWaiter(fd: fd, loop: self, deadline: deadline, continuation: continuation)
                self.register(fd: fd, events: events, handler: waiter)
            }
            if inEventLoop { register() } else { execute(register) }
        }
    }
}
