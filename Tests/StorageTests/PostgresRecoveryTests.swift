import Foundation
import Storage
import TestSupport
import Testing

/// Stops and starts a cluster of its own, so no other suite's server goes away under it.
@Suite("PostgreSQL connection loss", .enabled(if: PostgresCluster.isAvailable, "PostgreSQL server binaries not installed"))
struct PostgresRecoveryTests {
    @Test func lostConnectionsAreErrorsAndThePoolRecoversWhenTheServerReturns() async throws {
        let cluster = try await offPool { try PostgresCluster() }
        defer { cluster.destroy() }
        let url = try await cluster.createDatabase(prefix: "recovery")
        let database = try PostgresDatabase(conninfo: url, poolSize: 3)
        try await database.write { try $0.executeScript("CREATE TABLE t (n BIGINT)") }
        for n in 0..<6 { try await database.write { try $0.execute("INSERT INTO t VALUES ($1)", n) } }

        try await offPool { cluster.stop(mode: "fast") }
        var codes: [DatabaseError.Code] = []
        for _ in 0..<6 {
            do {
                _ = try await database.read { try $0.query("SELECT COUNT(*) AS n FROM t", []) }
            } catch let error as DatabaseError {
                codes.append(error.code)
            }
        }
        #expect(codes.count == 6)
        #expect(codes.allSatisfy { $0 == .connectionLost })
        #expect(await !database.ping())

        try await offPool { try cluster.start() }
        var recovered = false
        for _ in 0..<20 where !recovered {
            recovered = (try? await database.read { try $0.queryOne("SELECT COUNT(*) AS n FROM t")?.decode("n", as: Int.self) }) == 6
        }
        #expect(recovered)
        try await database.write { try $0.execute("INSERT INTO t VALUES ($1)", 6) }
        #expect(await database.ping())
        await database.close()
    }
}

@Suite("PostgreSQL availability")
struct PostgresAvailabilityTests {
    @Test(.enabled(if: !PostgresCluster.isAvailable, "PostgreSQL is installed: its tests run"))
    func postgresTestsAreSkippedHere() {
        print("NOTICE: PostgreSQL server binaries not found: the PostgreSQL storage tests did not run (install postgresql)")
    }
}
