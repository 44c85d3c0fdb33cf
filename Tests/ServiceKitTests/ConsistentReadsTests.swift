import ServiceKit
import Storage
import Testing

/// Consistency tokens: one WAL position per service, checked before it reaches SQL, merged by the later one.
@Suite struct ConsistentReadsTests {
    @Test func aTokenHoldsOnePositionPerServiceAndRefusesAnythingElse() {
        #expect(ConsistentReads.position(of: "order", in: "inventory=0/16B3748,order=1/A0") == "1/A0")
        #expect(ConsistentReads.position(of: "saga", in: "order=1/A0") == nil)
        for bad in ["order=1/A0'; DROP TABLE x", "order=/A0", "order=1/", "order=123456789/1", "order=G/1", "order"] {
            #expect(ConsistentReads.position(of: "order", in: bad) == nil, "\(bad)")
        }
        #expect(ReadReplica.isPosition("0/3000148"))
        #expect(!ReadReplica.isPosition("0/3000148/1"))
    }

    @Test func mergingKeepsEachServicesLaterPosition() {
        let merged = ConsistentReads.merge(["order=0/FF,inventory=1/0", "order=1/10", nil, "saga=bogus"])
        #expect(merged == "inventory=1/0,order=1/10")
        #expect(ConsistentReads.merge(["order=2/0", "order=1/FFFFFFFF"]) == "order=2/0")
        #expect(ConsistentReads.merge([nil]) == nil)
    }
}
