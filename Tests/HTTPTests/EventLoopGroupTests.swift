import Foundation
import TestSupport
import Testing

@testable import HTTP

/// How many event loops a process runs: one per usable core, where a container's CPU quota and the CPU
/// affinity count as well as the online cores, unless `EVENT_LOOPS` said how many before the first use.
@Suite("Event loop groups")
struct EventLoopGroupTests {
    @Test(
        arguments: [
            ("max 100000", nil), ("max 100000\n", nil), ("100000 100000", 1), ("100000 100000\n", 1), ("150000 100000", 2),
            ("50000 100000", 1), ("400000 100000", 4), ("-1 100000", nil), ("0 100000", nil), ("100000 0", nil), ("", nil),
            ("max", nil), ("fast 100000", nil),
        ] as [(String, Int?)]
    )
    func aCPUQuotaIsCountedInWholeCoresRoundedUp(_ text: String, _ cores: Int?) {
        #expect(System.quotaCores(cpuMax: text) == cores, "\(text)")
    }

    @Test func theQuotaIsReadFromCgroupVersion2OrElseVersion1() throws {
        let v2 = temporaryDirectory()
        try "250000 100000\n".write(toFile: v2 + "/cpu.max", atomically: true, encoding: .utf8)
        #expect(System.cgroupQuotaCores(root: v2) == 3)
        try "max 100000\n".write(toFile: v2 + "/cpu.max", atomically: true, encoding: .utf8)
        #expect(System.cgroupQuotaCores(root: v2) == nil)

        let v1 = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: v1 + "/cpu", withIntermediateDirectories: true)
        try "200000\n".write(toFile: v1 + "/cpu/cpu.cfs_quota_us", atomically: true, encoding: .utf8)
        try "100000\n".write(toFile: v1 + "/cpu/cpu.cfs_period_us", atomically: true, encoding: .utf8)
        #expect(System.cgroupQuotaCores(root: v1) == 2)
        try "-1\n".write(toFile: v1 + "/cpu/cpu.cfs_quota_us", atomically: true, encoding: .utf8)
        #expect(System.cgroupQuotaCores(root: v1) == nil)
        #expect(System.cgroupQuotaCores(root: temporaryDirectory()) == nil)
    }

    @Test func usableCoresAreAtLeastOneAndAtMostTheOnlineOnes() {
        #expect((1...System.coreCount).contains(System.usableCores))
    }

    @Test func theSharedGroupKeepsItsLoopsOnceStarted() {
        let running = EventLoopGroup.shared.loops.count
        #expect(!EventLoopGroup.configureShared(threads: running + 1))
        #expect(EventLoopGroup.shared.loops.count == running)
    }
}
