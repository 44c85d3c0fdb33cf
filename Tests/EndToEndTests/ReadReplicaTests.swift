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

    /// The compose layout's reads on a standby: inventory's catalog list and feed, the saga list, a sharded
    /// order service (a standby copy per shard), and the auditor, which takes each service's position first.
    @Test func inventorySagaShardedOrdersAndTheAuditorReadTheStandby() async throws {
        let primary = try await offPool { try PostgresCluster() }
        defer { primary.destroy() }
        var overrides = try await Layout.compose.databaseOverrides(cluster: primary)
        let shard1 = try await primary.createDatabase(prefix: "order1", ownRole: true)
        let standby = try await offPool { try primary.makeStandby() }
        defer { standby.destroy() }
        func onStandby(_ url: String) -> String { url.replacingOccurrences(of: ":\(primary.port)/", with: ":\(standby.port)/") }
        let shards = [overrides["order"]!["DATABASE_URL"]!, shard1]
        overrides["order"]!["ORDER_SHARDS"] = shards.joined(separator: ",")
        overrides["order"]!["ORDER_SHARD_READ_URLS"] = shards.map(onStandby).joined(separator: ",")
        for service in ["inventory", "saga"] { overrides[service]!["DATABASE_READ_URL"] = onStandby(overrides[service]!["DATABASE_URL"]!) }
        for service in ["inventory", "order", "saga"] { overrides[service]!["READ_REPLICA_MAX_LAG"] = "30s" }
        let system = try await SagaMartSystem(overrides: overrides)
        defer { system.stopAll() }
        func reads(_ service: String, _ target: String) async throws -> Double {
            let text = try await system.client.get("\(system.url(service))/metrics").bodyText
            return text.split(separator: "\n").filter { $0.hasPrefix("db_reads_total{") && $0.contains("target=\"\(target)\"") }
                .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        }
        let sku = uniqueSKU("STANDBY")
        try await system.createProduct(sku, stock: 50)
        let placed = try await system.checkout(checkoutBody(sku: sku))
        #expect(placed.status.code == 201, "\(placed.bodyText)")
        // One position per order shard: their standbys are told apart.
        let token = try #require(placed.headers[ConsistentReads.header])
        #expect(
            ConsistentReads.position(of: "order", in: token) != nil && ConsistentReads.position(of: "order.shard-1", in: token) != nil,
            "\(token)"
        )

        // Stale-tolerant reads go to the standby once it has caught up: the catalog list, inventory's feed,
        // the saga list.
        #expect(
            try await system.eventually {
                let products = try await system.service("inventory", "GET", "/v1/products?limit=200").object["items"] as? [[String: Any]]
                return products?.contains { $0["sku"] as? String == sku && $0["available"] as? Int == 49 } == true
            }
        )
        // (A standby that failed a probe is left alone for 5 s, its reads going to the primary meanwhile, as
        // they should: so each read is tried until the standby serves it, not just once.)
        for (service, path) in [
            ("inventory", "/v1/products"), ("inventory", "/v1/events?after=0&limit=10"), ("saga", "/v1/sagas?limit=10"),
        ] {
            let served = try await system.eventually {
                let before = try await reads(service, "replica")
                guard try await system.service(service, "GET", path).status.code == 200 else { return false }
                return try await reads(service, "replica") > before
            }
            #expect(served, "\(service) \(path) was never served by the standby")
        }

        // Replay paused. A stock change answers with inventory's position: the list read with it shows the
        // change (on the primary), the list read without it the standby's past.
        try await offPool { try standby.sql("SELECT pg_wal_replay_pause()") }
        let stock = try await system.call("PUT", "/v1/products/\(sku)/stock", key: admin, json: #"{"available":70}"#)
        #expect(stock.status.code == 200, "\(stock.bodyText)")
        let stockToken = try #require(stock.headers[ConsistentReads.header])
        #expect(ConsistentReads.position(of: "inventory", in: stockToken) != nil)
        func listed(_ headers: [(String, String)]) async throws -> Int? {
            var request = ClientRequest(
                url: system.url("inventory") + "/v1/products?limit=200",
                headers: ServiceAuthenticator.development(service: "gateway").authorization(for: "inventory")
            )
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            let items = try await system.client.execute(request).object["items"] as? [[String: Any]]
            return items?.first { $0["sku"] as? String == sku }?["available"] as? Int
        }
        #expect(try await listed([(ConsistentReads.header, stockToken)]) == 70)
        let stale = try await system.eventually { try await listed([]) == 49 }
        #expect(stale, "the paused standby serves the untokened list")

        // A checkout while the standby is paused: its customer sees the order through the token, on its
        // shard; a feed consumer past the standby's end is answered by the primary, not told the feed was
        // restored; and the auditor, which takes each service's position before it reads, finds nothing wrong.
        let late = try await system.checkout(checkoutBody(sku: sku))
        #expect(late.status.code == 201, "\(late.bodyText)")
        let lateToken = try #require(late.headers[ConsistentReads.header])
        let history = try await system.call("GET", "/v1/orders", key: alice, headers: [(ConsistentReads.header, lateToken)])
        #expect((history.object["items"] as? [[String: Any]])?.first?["id"] as? String == late.object["orderId"] as? String)
        // The newest seq on the primary (the checkout reserved stock after the standby paused).
        let inventory = try await Storage.open(url: try DatabaseURL(overrides["inventory"]!["DATABASE_URL"]!), poolSize: 1)
        let head = try await inventory.read { try $0.query("SELECT MAX(seq) AS head FROM outbox", [])[0].decode("head", as: Int64.self) }
        await inventory.close()
        let page = try await system.service("inventory", "GET", "/v1/events?after=\(head)&limit=1").object
        #expect(page["afterId"] as? String != nil, "a standby behind the cursor made the feed look restored: \(page)")
        let audit = try await system.runCommand("saga", [], executable: "audit")
        #expect(audit.code == 0, "\(audit.output)")
        try await offPool { try standby.sql("SELECT pg_wal_replay_resume()") }
    }
}
