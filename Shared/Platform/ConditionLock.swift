import Glibc

/// A mutex with a condition variable (`pthread_mutex_t` and `pthread_cond_t`), for threads that sleep until
/// work arrives: the database connection threads and the WAL checkpointer. Timed waits use the monotonic
/// clock, so a change of the wall clock neither wakes nor starves them.
public final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }

    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Wakes one waiting thread. Call with the lock held.
    public func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiting thread. Call with the lock held.
    public func broadcast() { pthread_cond_broadcast(condition) }

    /// Releases the lock, sleeps until signalled (or spuriously), and takes the lock again.
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// `wait()` for at most `timeout`; false when the time ran out.
    @discardableResult
    public func wait(timeout: Duration) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let (seconds, attoseconds) = max(timeout, .zero).components
        var nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(seconds) + nanoseconds / 1_000_000_000
        nanoseconds %= 1_000_000_000
        deadline.tv_nsec = nanoseconds
        return pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }
}
