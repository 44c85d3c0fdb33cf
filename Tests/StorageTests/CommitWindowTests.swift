import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Storage

/// The SQLite writer's wait for more writes before a small group commit: only under load from several
/// callers, never for one caller's writes or after a quiet spell.
@Suite("SQLite commit window")
struct CommitWindowTests {
    let start = ContinuousClock.now

    /// `batches` transactions of `size` writes, `every` apart.
    func fed(_ window: CommitWindow, _ batches: Int, of size: Int, every: Duration, from: Duration = .zero) -> CommitWindow {
        var window = window
        for index in 0..<batches { window.took(size, at: start + from + every * index) }
        return window
    }

    @Test func writesFromSeveralCallersAtOnceWaitForMore() {
        let window = fed(CommitWindow(length: .microseconds(300)), 20, of: 3, every: .microseconds(900))
        #expect(window.pause(queued: 1) == .microseconds(300))
        #expect(window.pause(queued: 3) == .microseconds(300))
        // Enough queued already: no wait.
        #expect(window.pause(queued: 4) == nil)
        #expect(window.pause(queued: 64) == nil)
    }

    @Test func oneCallersWritesNeverWait() {
        // One write at a time, however quickly they follow each other: waiting would only delay them.
        let window = fed(CommitWindow(length: .microseconds(300)), 50, of: 1, every: .microseconds(200))
        #expect(window.pause(queued: 1) == nil)
    }

    @Test func slowArrivalsDoNotWait() {
        // Several callers, but a write every 6 ms on average: little would join in 300 µs.
        let window = fed(CommitWindow(length: .microseconds(300)), 30, of: 2, every: .milliseconds(12))
        #expect(window.pause(queued: 1) == nil)
    }

    @Test func aQuietSpellStopsTheWaitingAndABurstRestartsIt() {
        var window = fed(CommitWindow(length: .microseconds(300)), 20, of: 3, every: .microseconds(900))
        #expect(window.pause(queued: 1) != nil)
        // A lone write after a second of nothing.
        window.took(1, at: start + .seconds(1))
        #expect(window.pause(queued: 1) == nil)
        // Load again: busy within a few transactions.
        window = fed(window, 6, of: 3, every: .microseconds(900), from: .seconds(1) + .microseconds(900))
        #expect(window.pause(queued: 1) != nil)
    }

    @Test func aWindowOfZeroNeverWaits() {
        let window = fed(CommitWindow(length: .zero), 20, of: 3, every: .microseconds(900))
        #expect(window.pause(queued: 1) == nil)
    }

    @Test func aFreshWindowDoesNotWait() {
        #expect(CommitWindow(length: .microseconds(300)).pause(queued: 1) == nil)
        #expect(fed(CommitWindow(length: .microseconds(300)), 1, of: 3, every: .zero).pause(queued: 1) == nil)
    }

    /// The writer thread itself: a job arriving while the window is open joins the transaction of the job
    /// that opened it. Without a window, that job has long gone alone.
    @Test(arguments: [true, false])
    func jobsArrivingDuringTheWaitShareATransaction(window open: Bool) async throws {
        let sizes = Mutex<[Int]>([])
        // Always busy enough to wait (thresholds out of the way); the wait is long beside the 200 ms below.
        let window = open ? CommitWindow(length: .seconds(2), fill: 4, together: 0, busyGap: .seconds(3600)) : nil
        let threads = ConnectionThreads<Int>(
            name: "window-test",
            connections: [0],
            batchLimit: 64,
            window: window,
            process: { _, jobs in
                sizes.withLock { $0.append(jobs.count) }
                for job in jobs { job.run(0).deliver() }
            },
            finish: { _ in }
        )
        // Two transactions one after the other: the window has seen the gap between them.
        _ = try await threads.run { $0 }
        _ = try await threads.run { $0 }
        let first = Task { try await threads.run { $0 } }
        try await Task.sleep(for: .milliseconds(200))
        async let second = threads.run { $0 }
        async let third = threads.run { $0 }
        _ = try await (first.value, second, third)
        await threads.close()
        let taken = sizes.withLock { $0 }
        if open {
            #expect(taken == [1, 1, 3])
        } else {
            #expect(Array(taken.prefix(3)) == [1, 1, 1])
            #expect(taken.reduce(0, +) == 5)
        }
    }

    /// The database gives its writer the window it was opened with; an in-memory one has none.
    @Test func theSQLiteWriterHasTheWindow() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let standard = try SQLiteDatabase(path: directory + "/standard.sqlite")
        let custom = try SQLiteDatabase(path: directory + "/custom.sqlite", commitWindow: .milliseconds(2))
        let memory = try SQLiteDatabase(path: nil)
        #expect(standard.commitWindowLength == .microseconds(300))
        #expect(custom.commitWindowLength == .milliseconds(2))
        #expect(memory.commitWindowLength == nil)
        await standard.close()
        await custom.close()
        await memory.close()
    }
}
