import Foundation
import Synchronization

/// What a test process leaves behind is removed when it exits: the temporary folders of its tests, and the
/// PostgreSQL clusters whose `destroy()` is still stopping them on a thread of its own (the process used to
/// exit first, leaving a server running and its folder in /tmp: 36 clusters and 12 GB of test folders
/// there after a day of runs).
enum Cleanup {
    private static let folders = Mutex<[String]>([])
    private static let pending = DispatchGroup()
    /// Installed once, on first use (a static is initialised once, whichever thread gets there first).
    private static let atExit: Void = {
        atexit {
            _ = Cleanup.pending.wait(timeout: .now() + 60)
            for folder in Cleanup.folders.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: folder) }
        }
    }()

    /// Removes `path` when the process exits.
    static func removeAtExit(_ path: String) {
        _ = atExit
        folders.withLock { $0.append(path) }
    }

    /// Runs `work` on a thread of its own; the process waits for it (up to a minute) before it exits.
    static func inBackground(_ work: @escaping @Sendable () -> Void) {
        _ = atExit
        pending.enter()
        Thread {
            work()
            pending.leave()
        }.start()
    }

}
