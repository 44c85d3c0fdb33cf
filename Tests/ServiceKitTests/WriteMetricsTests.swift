import ServiceKit
import Storage
import Testing

/// What `make bench-checkout` reads from each service's `/metrics` to print transactions, commits and statements
/// per checkout.
@Suite struct WriteMetricsTests {
    @Test func committedWritesOfEveryShardAreShownAsGauges() async throws {
        let shards = [try SQLiteDatabase(path: nil), try SQLiteDatabase(path: nil)]
        try await shards[0].write { try $0.executeScript("CREATE TABLE t (n INTEGER) STRICT") }
        try await shards[0].write { try $0.execute("INSERT INTO t (n) VALUES (1)", []) }
        try await shards[1].write { try $0.executeScript("CREATE TABLE t (n INTEGER) STRICT") }
        let metrics = PrometheusRegistry()
        OperationsRoutes.recordWrites(shards, into: metrics)
        let text = metrics.render()
        #expect(text.contains("db_write_transactions 3\n"), "\(text)")
        #expect(text.contains("db_commits 3\n"), "\(text)")
        // Each write is BEGIN IMMEDIATE, SAVEPOINT, RELEASE and COMMIT around its own statements (a script is
        // not counted): 4 + 5 + 4.
        #expect(text.contains("db_statements 13\n"), "\(text)")
        for shard in shards { await shard.close() }
    }
}
