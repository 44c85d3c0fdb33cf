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

    /// A pool whose connections all sat idle while the server restarted: each one notices before its next
    /// job and reconnects, so no read or write fails once the server is back (the chaos run's order service
    /// used to answer 503 to the first reads on connections left over from before a restart).
    @Test func connectionsIdleThroughARestartReconnectBeforeTheirNextJob() async throws {
        let cluster = try await offPool { try PostgresCluster() }
        defer { cluster.destroy() }
        let url = try await cluster.createDatabase(prefix: "idle")
        let database = try PostgresDatabase(conninfo: url, poolSize: 3)
        try await database.write { try $0.executeScript("CREATE TABLE t (n BIGINT)") }
        // Three slow reads at once: each of the three connections takes one, so all three are connected.
        let backends = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    try await database.read { connection in
                        try connection.queryOne("SELECT pg_backend_pid() AS pid, pg_sleep(0.3)")!.decode("pid", as: Int.self)
                    }
                }
            }
            return try await group.reduce(into: Set<Int>()) { $0.insert($1) }
        }
        #expect(backends.count == 3)

        try await offPool { cluster.stop(mode: "fast") }
        try await offPool { try cluster.start() }
        // Again three at a time, so every connection of the pool runs a job.
        let after = try await withThrowingTaskGroup(of: Int.self) { group in
            for n in 0..<6 {
                group.addTask {
                    try await database.write { connection in
                        try connection.execute("INSERT INTO t VALUES ($1)", n)
                        return try connection.queryOne("SELECT pg_backend_pid() AS pid, pg_sleep(0.2)")!.decode("pid", as: Int.self)
                    }
                }
            }
            return try await group.reduce(into: Set<Int>()) { $0.insert($1) }
        }
        #expect(after.count == 3)
        #expect(after.isDisjoint(with: backends))
        #expect(try await database.read { try $0.queryOne("SELECT COUNT(*) AS n FROM t")?.decode("n", as: Int.self) } == 6)
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
