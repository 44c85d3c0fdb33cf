import Foundation
import Synchronization
import Testing

@testable import HTTP

/// Timers of an event loop: work at a deadline on the loop's thread, woken by the loop's own epoll timeout;
/// `EventLoop.sleep`, the task sleep built on them.
@Suite("Event loop timers")
struct EventLoopTimerTests {
    @Test func theQueueGivesTimersInDeadlineOrderAndTiesInTheOrderSet() {
        var queue = TimerQueue()
        let start = ContinuousClock.now
        let offsets = [70, 10, 50, 10, 90, 30, 30, 0, 60, 20]
        for (id, offset) in offsets.enumerated() { queue.insert(deadline: start + .milliseconds(offset), id: UInt64(id)) }
        var order: [UInt64] = []
        while let first = queue.first {
            order.append(first.id)
            queue.removeFirst()
        }
        #expect(order == [7, 1, 3, 9, 5, 6, 2, 8, 0, 4])
        #expect(queue.isEmpty)
    }

    @Test func removingCancelledTimersKeepsTheRestInOrder() {
        var queue = TimerQueue()
        let start = ContinuousClock.now
        for id in 0..<50 { queue.insert(deadline: start + .milliseconds((id * 37) % 50), id: UInt64(id)) }
        queue.removeAll { $0 % 3 == 0 }
        #expect(queue.count == 33)
        var last = start - .seconds(1)
        while let first = queue.first {
            #expect(first.id % 3 != 0)
            #expect(first.deadline >= last)
            last = first.deadline
            queue.removeFirst()
        }
    }

    @Test func aTimerRunsOnItsLoopNotBeforeItsDeadlineAndACancelledOneNever() async throws {
        let group = EventLoopGroup(threads: 1, name: "timer-test")
        defer { group.shutdown() }
        let loop = group.loops[0]
        let ran = Mutex<[String]>([])
        let start = ContinuousClock.now
        loop.schedule(at: start + .milliseconds(60)) { ran.withLock { $0.append("late") } }
        let cancelled = loop.schedule(at: start + .milliseconds(30)) { ran.withLock { $0.append("cancelled") } }
        let early = Mutex<(onLoop: Bool, at: ContinuousClock.Instant)?>(nil)
        loop.schedule(at: start + .milliseconds(20)) {
            ran.withLock { $0.append("early") }
            early.withLock { $0 = (loop.inEventLoop, ContinuousClock.now) }
        }
        cancelled.cancel()
        let deadline = ContinuousClock.now + .seconds(5)
        while ran.withLock({ $0.count }) < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(ran.withLock { $0 } == ["early", "late"])
        let (onLoop, at) = try #require(early.withLock { $0 })
        #expect(onLoop)
        #expect(at >= start + .milliseconds(20))
    }

    @Test func sleepingOnALoopWakesThereAfterTheDuration() async throws {
        let group = EventLoopGroup(threads: 1, name: "sleep-test")
        defer { group.shutdown() }
        let loop = group.loops[0]
        let result = await Task(executorPreference: loop) { () -> (Bool, Bool, Duration) in
            let current = EventLoop.current === loop
            let start = ContinuousClock.now
            try? await EventLoop.sleep(for: .milliseconds(40))
            return (current, loop.inEventLoop, start.duration(to: .now))
        }.value
        #expect(result.0, "EventLoop.current names the loop running the task")
        #expect(result.1, "the task resumes on its loop")
        #expect(result.2 >= .milliseconds(40))
        #expect(EventLoop.current == nil, "a test's thread is no loop")
    }

    @Test func cancellingASleepEndsItAtOnceWithCancellationError() async throws {
        let group = EventLoopGroup(threads: 1, name: "sleep-cancel-test")
        defer { group.shutdown() }
        let sleeper = Task(executorPreference: group.loops[0]) { () -> (any Error)? in
            do {
                try await EventLoop.sleep(for: .seconds(30))
                return nil
            } catch {
                return error
            }
        }
        try await Task.sleep(for: .milliseconds(20))
        let start = ContinuousClock.now
        sleeper.cancel()
        let error = await sleeper.value
        #expect(error is CancellationError)
        #expect(start.duration(to: .now) < .seconds(5))

        // Cancelled before it sleeps: it does not sleep at all.
        let early = Task(executorPreference: group.loops[0]) { () -> (any Error)? in
            withUnsafeCurrentTask { $0?.cancel() }
            do {
                try await EventLoop.sleep(for: .seconds(30))
                return nil
            } catch {
                return error
            }
        }
        #expect(await early.value is CancellationError)
    }

    @Test func manyCancelledTimersDoNotPileUp() async throws {
        let group = EventLoopGroup(threads: 1, name: "timer-pile-test")
        defer { group.shutdown() }
        let loop = group.loops[0]
        let count = await Task(executorPreference: loop) { () -> Int in
            for _ in 0..<10_000 {
                loop.schedule(at: .now + .seconds(60)) {}.cancel()
            }
            return loop.pendingTimerCount
        }.value
        #expect(count <= 1025)
    }
}
