import Glibc
import Platform
import Synchronization
import Testing

@Suite("CPU scheduling policy")
struct CPUSchedulingTests {
    @Test func theSettingIsBatchUnlessItSaysNormal() {
        #expect(CPUScheduling(setting: nil) == .batch)
        #expect(CPUScheduling(setting: "") == .batch)
        #expect(CPUScheduling(setting: "batch") == .batch)
        #expect(CPUScheduling(setting: "Normal") == .normal)
        #expect(CPUScheduling(setting: "fifo") == nil)
        #expect(CPUScheduling(setting: "other") == nil)
    }

    /// Applied on a thread, the policy holds for it and for the threads it starts afterwards; the test's own
    /// threads are left as they were. The thread has the other policy first, so that each case changes it.
    @Test(arguments: [CPUScheduling.batch, .normal])
    func aThreadAndTheThreadsItStartsHaveThePolicy(_ scheduling: CPUScheduling) async {
        let seen = Mutex<(refused: Int32, own: CPUScheduling?, child: CPUScheduling?)?>(nil)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            SystemThread.start(name: "sched-test") {
                let other: CPUScheduling = scheduling == .batch ? .normal : .batch
                let refused = other.apply() | scheduling.apply()
                let own = CPUScheduling.current
                SystemThread.start(name: "sched-child") {
                    seen.withLock { $0 = (refused, own, CPUScheduling.current) }
                    done.resume()
                }
            }
        }
        let result = seen.withLock { $0 }
        #expect(result?.refused == 0)
        #expect(result?.own == scheduling)
        #expect(result?.child == scheduling)
        #expect(CPUScheduling.current == .normal)
    }
}
