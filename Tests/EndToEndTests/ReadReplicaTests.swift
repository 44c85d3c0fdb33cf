import Foundation
import HTTP
import ServiceKit
import Storage
import TestSupport
import Testing

/// The order service on a PostgreSQL primary with a hot standby (`DATABASE_READ_URL`): history and detail
/// reads go to the standby, a client that just wrote sees its write through the consistency token even while
/// the standby's replay is paused, and a standby that dies under traffic costs no error.
@Suite(.serialized, .enabled(if: PostgresCluster.isAvailable, "PostgreSQL server binaries not installed"))
struct ReadReplicaTests {
    @Test func readsGoToTheStandbyAndAClientSeesItsOwnWrites() async throws {
        let primary = try await offPool { try PostgresCluster() }
        defer { primary.destroy() }
        var overrides = try await Layout.compose.databaseOverrides(cluster: primary)
        let standby = try await offPool { try primary.makeStandby() }
        defer { standby.destroy() }
        let orderURL = overrides["order"]!["DATABASE_URL"]!
        overrides["order"]!["DATABASE_READ_URL"] = orderURL.replacingOccurrences(of: ":\(primary.port)/", with: ":\(standby.port)/")
        overrides["order"]!["READ_REPLICA_MAX_LAG"] = "30s"
        let system = try await SagaMartSystem(overrides: overrides)
        defer { system.stopAll() }
        func reads(_ target: String) async throws -> Double {
            let text = try await system.client.get("\(system.url("order"))/metrics").bodyText
            let line = text.split(separator: "\n").first { $0.hasPrefix("db_reads_total{target=\"\(target)\"}") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        }
        let sku = uniqueSKU("REPLICA")
        try await system.createProduct(sku, stock: 100)

        // A checkout hands the client a token with the order service's position after it.
        let first = try await system.checkout(checkoutBody(sku: sku))
        #expect(first.status.code == 201)
        let token = try #require(first.headers[ConsistentReads.header])
        #expect(ConsistentReads.position(of: "order", in: token) != nil, "\(token)")

        // Reads that may be stale go to the standby once it has caught up.
        let before = try await reads("replica")
        #expect(
            try await system.eventually {
                (try await system.call("GET", "/v1/orders", key: alice)).object["items"].map { ($0 as? [Any])?.count == 1 } == true
            }
        )
        for _ in 0..<5 { #expect(try await system.call("GET", "/v1/orders", key: alice).status.code == 200) }
        #expect(try await reads("replica") >= before + 5)

        // Replay paused: the standby stops at the past. A new order is still seen by the client who placed
        // it (its token sends the read to the primary); without the token the standby answers, a moment stale.
        try await offPool { try standby.sql("SELECT pg_wal_replay_pause()") }
        let second = try await system.checkout(checkoutBody(sku: sku))
        #expect(second.status.code == 201)
        let orderId = try #require(second.object["orderId"] as? String)
        let secondToken = try #require(second.headers[ConsistentReads.header])
        let primaryBefore = try await reads("primary")
        let mine = try await system.call("GET", "/v1/orders/\(orderId)", key: alice, headers: [(ConsistentReads.header, secondToken)])
        #expect(mine.status.code == 200, "\(mine.bodyText)")
        #expect(mine.object["status"] as? String == "APPROVED")
        let history = try await system.call("GET", "/v1/orders", key: alice, headers: [(ConsistentReads.header, secondToken)])
        #expect((history.object["items"] as? [[String: Any]])?.first?["id"] as? String == orderId)
        #expect(try await reads("primary") >= primaryBefore + 2)
        let stale = try await system.call("GET", "/v1/orders", key: alice)
        #expect((stale.object["items"] as? [[String: Any]])?.count == 1, "the paused standby still serves the untokened read")
        let metrics = try await system.client.get("\(system.url("order"))/metrics").bodyText
        #expect(metrics.contains("db_replica_lag_seconds"))
        try await offPool { try standby.sql("SELECT pg_wal_replay_resume()") }

        // The standby dies while reads run: every read is answered, by the primary.
        let statuses = try await withThrowingTaskGroup(of: [UInt].self) { group in
            group.addTask {
                var codes: [UInt] = []
                for _ in 0..<40 {
                    codes.append(UInt(try await system.call("GET", "/v1/orders", key: alice).status.code))
                    try await Task.sleep(for: .milliseconds(10))
                }
                return codes
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(100))
                standby.stop(mode: "immediate")
                return []
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(statuses.count == 40)
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        #expect((try await system.call("GET", "/v1/orders", key: alice).object["items"] as? [Any])?.count == 2)
    }
}
