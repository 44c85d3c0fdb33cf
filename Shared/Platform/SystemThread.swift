import CSystem
import Glibc

/// A detached POSIX thread for work that blocks (an event loop's `epoll_wait`, a database connection's C
/// calls), never the cooperative pool. Foundation's `Thread` does the same but needs the whole Foundation
/// library, with its internationalisation data, in every service.
public enum SystemThread {
    /// Starts `body` on a new detached thread named `name` (the kernel keeps the first 15 bytes, shown by
    /// `top -H` and `perf`) with a stack of `stackSize` bytes.
    public static func start(name: String, stackSize: Int = 1 << 20, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Body(name: name, run: body))
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, max(stackSize, Int(PTHREAD_STACK_MIN)))
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let result = pthread_create(
            &thread,
            &attributes,
            { context in
                let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
                _ = sagamart_set_thread_name(String(decoding: body.name.utf8.prefix(15), as: UTF8.self))
                body.run()
                return nil
            },
            box.toOpaque()
        )
        // Failing to start a thread is out of resources (EAGAIN) or a bad attribute: nothing to go on with.
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    private final class Body: Sendable {
        let name: String
        let run: @Sendable () -> Void
        init(name: String, run: @escaping @Sendable () -> Void) {
            self.name = name
            self.run = run
        }
    }
}

extension SystemThread {
    /// Blocks the calling thread (one of ours, never the cooperative pool) for `duration`.
    public static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        guard seconds > 0 || attoseconds > 0 else { return }
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
