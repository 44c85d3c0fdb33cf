import CSystem
import Glibc

/// How the kernel schedules a service's threads (sched(7)): `batch` (`SCHED_BATCH`) by default, or `normal`
/// (`SCHED_OTHER`, the kernel's own default), from `CPU_SCHEDULING`.
///
/// A service's threads hand work to each other all the time: the event loop to the SQLite writer and back,
/// one service's loop to the next over a socket. Under `SCHED_OTHER` each thread that wakes up tends to
/// preempt the thread running on its core, even when that thread was about to block on its own: a writer
/// woken by its fsync cut into the loop gathering the next transactions, and the loop woken by a reply cut
/// into the writer. Under `SCHED_BATCH` a thread that wakes waits for the running one to block or use up its
/// slice, so each thread finishes what it has and the next finds more to do at once. `make bench-checkout`
/// on two cores at 32 clients: 24 context switches per checkout instead of 37, 2.1 commits instead of 2.9,
/// and a median of 18 % less CPU per checkout; at 8 clients less CPU and lower latency as well.
///
/// The policy is per thread, and a thread starts with its creator's: `apply()` on the main thread before
/// anything else starts sets it for the whole process. It needs no privilege.
public enum CPUScheduling: String, Sendable, CaseIterable {
    case batch
    case normal

    /// The environment variable that chooses it.
    public static let variable = "CPU_SCHEDULING"

    /// The value of `CPU_SCHEDULING`: unset or empty is `batch`; nil for anything but `batch` or `normal`.
    public init?(setting text: String?) {
        guard let text, !text.isEmpty else {
            self = .batch
            return
        }
        guard let value = CPUScheduling(rawValue: text.lowercased()) else { return nil }
        self = value
    }

    /// The kernel's number for the policy (`SCHED_BATCH` is 3 in Linux's `<linux/sched.h>`; glibc names it
    /// only under `_GNU_SOURCE`, which the Glibc module does not define).
    private var policy: Int32 {
        switch self {
        case .batch: return 3
        case .normal: return Int32(SCHED_OTHER)
        }
    }

    /// Sets the calling thread's policy, which the threads it starts afterwards inherit. 0, or the errno when
    /// the kernel refused (a seccomp profile may).
    @discardableResult
    public func apply() -> Int32 {
        sagamart_set_scheduling(policy)
    }

    /// The calling thread's policy, or nil when it is another one (a real-time policy, `SCHED_IDLE`).
    public static var current: CPUScheduling? {
        of(thread: 0)
    }

    /// The policy of thread `tid` (0: the calling thread), of this process or another (`/proc/<pid>/task`
    /// lists a process's threads), or nil when it is another one or the thread is gone.
    public static func of(thread tid: pid_t) -> CPUScheduling? {
        let policy = sched_getscheduler(tid)
        return allCases.first { $0.policy == policy }
    }
}
