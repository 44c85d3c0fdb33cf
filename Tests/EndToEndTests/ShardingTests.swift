import Contracts
import Foundation
import HTTP
import ServiceKit
import Storage
import Synchronization
import TestSupport
import Testing

/// The order service sharded by customer (`ORDER_SHARDS`) in the real system: checkouts of many customers
/// spread over the shards, a bucket moved while eight clients check out, the mover killed -9 in the middle
/// of a move, each shard's feed, and (on PostgreSQL) a shard that goes down.
@Suite(.serialized) struct ShardingTests {
    /// Sixteen customers, each with an API key.
    static let customers = (0..<16).map { "shopper-\($0)" }
    static func key(_ customer: String) -> String { "\(customer)-key-0123456789" }

    /// The system with its order service on four SQLite files, or on two PostgreSQL databases (the compose
    /// layout); with the URL of one more shard of the same kind, not yet in use, and the folder of the files.
    func startSharded(_ layout: Layout) async throws -> (SagaMartSystem, [String], String, String) {
        let directory = temporaryDirectory()
        guard layout != .sqlite else {
            let urls = (0...4).map { "sqlite://\(directory)/order-\($0).db" }
            return (try await start(layout, shards: Array(urls.prefix(4))), Array(urls.prefix(4)), urls[4], directory)
        }
        let cluster = try await offPool { try PostgresCluster.shared() }
        var urls: [String] = []
        for n in 0..<3 { urls.append(try await cluster.createDatabase(prefix: "order\(n)", ownRole: true)) }
        return (try await start(layout, shards: Array(urls.prefix(2)), cluster: cluster), Array(urls.prefix(2)), urls[2], directory)
    }

    func start(_ layout: Layout, shards: [String], cluster: PostgresCluster? = nil) async throws -> SagaMartSystem {
        try await SagaMartSystem(
            layout: layout,
            cluster: cluster,
            overrides: [
                "order": ["ORDER_SHARDS": shards.joined(separator: ","), "BUCKET_FENCE_TIMEOUT": "2"],
                "gateway": ["CUSTOMER_API_KEYS": Self.customers.map { "\($0):\(Self.key($0))" }.joined(separator: ",")],
                // A fence left by a killed mover lasts BUCKET_FENCE_TIMEOUT (2 s) plus the time its service takes
                // to notice under load: the order step waits it out instead of giving up at the harness's 3 s.
                "saga": ["SAGA_STEP_DEADLINE": "15s"],
            ]
        )
    }

    /// A checkout as a real client makes it: the same key again after a 503 or a dropped connection,
    /// until an answer that is final. Returns the order id of a 201.
    func checkout(_ system: SagaMartSystem, customer: String, sku: String) async throws -> String? {
        let idempotencyKey = UUID().uuidString
        for _ in 0..<40 {
            guard let response = try? await system.checkout(checkoutBody(sku: sku), key: Self.key(customer), idempotencyKey: idempotencyKey)
            else {
                try await Task.sleep(for: .milliseconds(200))
                continue
            }
            if response.status.code == 201 { return response.object["orderId"] as? String }
            if response.status.code == 202, let id = response.object["checkoutId"] as? String {
                let done = try await system.waitForCheckout(id)
                return done["status"] as? String == "COMPLETED" ? done["orderId"] as? String : nil
            }
            if response.status.code < 500 { return nil }
            try await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// Which shards hold each order's stream, read from the shards' databases directly.
    func locations(_ urls: [String]) async throws -> (orders: [String: [Int]], eventIds: [String]) {
        var orders: [String: [Int]] = [:]
        var eventIds: [String] = []
        for (index, url) in urls.enumerated() {
            let database = try await Storage.open(url: try DatabaseURL(url), poolSize: 1)
            let (ids, events) = try await database.read { connection in
                (
                    try connection.query("SELECT DISTINCT order_id FROM order_events", []).map {
                        try $0.decode("order_id", as: String.self)
                    },
                    try connection.query("SELECT id FROM outbox", []).map { try $0.decode("id", as: String.self) }
                )
            }
            await database.close()
            for id in ids { orders[id, default: []].append(index) }
            eventIds += events
        }
        return (orders, eventIds)
    }

    func moveBucket(_ system: SagaMartSystem, _ bucket: Int, to shard: Int) async throws -> Response {
        try await system.service("order", "POST", "/v1/admin/buckets/\(bucket)/move", json: #"{"shard":\#(shard)}"#)
    }

    @Test(arguments: Layout.available)
    func ordersSpreadOverShardsAndABucketMovesWhileEightClientsCheckOut(_ layout: Layout) async throws {
        let (system, urls, more, directory) = try await startSharded(layout)
        defer {
            system.stopAll()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let sku = uniqueSKU("SHARD")
        try await system.createProduct(sku, stock: 10_000)

        // The bucket of the first client's customer moves to another shard while all eight check out.
        let moving = OrderBuckets.bucket(customerId: Self.customers[0])
        let map = try await system.service("order", "GET", "/v1/admin/shards").object
        let source = try #require((map["buckets"] as? [Int])?[moving])
        let destination = (source + 1) % urls.count
        let (orders, moved) = try await withThrowingTaskGroup(of: ([String: String], Response?).self) { group in
            for client in 0..<8 {
                group.addTask {
                    let customer = Self.customers[client]
                    var placed: [String: String] = [:]
                    for _ in 0..<6 {
                        if let id = try await checkout(system, customer: customer, sku: sku) { placed[id] = customer }
                    }
                    return (placed, nil)
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(400))
                return ([:], try await moveBucket(system, moving, to: destination))
            }
            var orders: [String: String] = [:]
            var move: Response?
            for try await (placed, response) in group {
                orders.merge(placed) { first, _ in first }
                move = move ?? response
            }
            return (orders, try #require(move))
        }
        #expect(moved.status.code == 200, "\(moved.bodyText)")
        #expect(moved.object["from"] as? Int == source && moved.object["to"] as? Int == destination)
        // How long the fence lasted is a benchmark's figure (make bench-checkout ORDER_SHARDS=2); here, that
        // it was reported, and that the clients (who retry after a 503, as told) all got their orders.
        #expect(moved.object["fencedMicroseconds"] is Int)
        #expect(orders.count == 48, "every checkout of the eight clients ended in an order: \(orders.count)")

        // Each order on exactly one shard, its customer's; no event in two outboxes.
        let after = try await system.service("order", "GET", "/v1/admin/shards").object
        let owners = try #require(after["buckets"] as? [Int])
        #expect(owners[moving] == destination)
        let (found, eventIds) = try await locations(urls)
        for (id, customer) in orders {
            #expect(found[id] == [owners[OrderBuckets.bucket(customerId: customer)]], "\(id) of \(customer): \(found[id] ?? [])")
            let order = try await system.order(id, key: Self.key(customer))
            #expect(order["status"] as? String == "APPROVED", "\(order)")
        }
        #expect(Set(eventIds).count == eventIds.count, "an event was emitted twice")
        // The shards' feeds together hold each created order once, each in its shard's commit order.
        var created = 0
        for shard in 0..<urls.count {
            let page = try await system.service("order", "GET", "/v1/shards/\(shard)/events?limit=1000").object
            let items = page["items"] as? [[String: Any]] ?? []
            let seqs = items.compactMap { $0["seq"] as? Int }
            #expect(seqs == seqs.sorted())
            created += items.filter { $0["type"] as? String == "order.created" }.count
        }
        #expect(created == orders.count)
        // A customer's history (one shard) and everyone's (merged over all, paged by cursor).
        let history = try await system.call("GET", "/v1/orders?limit=100", key: Self.key(Self.customers[0])).object
        #expect((history["items"] as? [[String: Any]])?.count == orders.values.filter { $0 == Self.customers[0] }.count)
        var listed: [String] = []
        var cursor: String?
        repeat {
            let page = try await system.service("order", "GET", "/v1/orders?limit=7" + (cursor.map { "&after=\($0)" } ?? "")).object
            listed += (page["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            cursor = page["next"] as? String
            if listed.count == 7 {
                // A shard is added between two pages (the service restarts on one more database, which
                // starts empty), and a bucket moves to it: the cursor taken before still pages on.
                system.setEnvironment("order", "ORDER_SHARDS", (urls + [more]).joined(separator: ","))
                await system.kill("order", signal: SIGTERM)
                try system.start("order")
                try await system.waitReady("order")
                let added = try await moveBucket(system, moving, to: urls.count)
                #expect(added.status.code == 200, "\(added.bodyText)")
            }
        } while cursor != nil
        #expect(listed == listed.sorted(by: >), "the merged listing is newest first")
        #expect(Set(listed) == Set(orders.keys))
        #expect(listed.count == orders.count, "an order listed twice")
        let grown = try #require(try await system.service("order", "GET", "/v1/admin/shards").object["buckets"] as? [Int])
        #expect(grown[moving] == urls.count)
        #expect(grown.filter { $0 == urls.count }.count == 1, "a new shard takes buckets only by moves")
        let relocated = try await locations(urls + [more]).orders
        for (id, customer) in orders where customer == Self.customers[0] {
            #expect(relocated[id] == [urls.count], "\(id) on \(relocated[id] ?? [])")
            #expect(try await system.order(id, key: Self.key(customer))["status"] as? String == "APPROVED")
        }

        // Projections rebuilt on every shard change nothing; the auditor finds nothing wrong.
        let rebuild = try await system.runCommand("order", ["rebuild-projections"])
        #expect(rebuild.code == 0, "\(rebuild.output)")
        #expect(rebuild.output.components(separatedBy: "rebuilt order_view:").count == urls.count + 2, "\(rebuild.output)")
        let audit = try await system.runCommand("saga", [], executable: "audit")
        #expect(audit.code == 0, "\(audit.output)")
    }

    @Test(arguments: Layout.available)
    func aMoverKilledMidMoveLosesAndDoublesNothing(_ layout: Layout) async throws {
        let (system, urls, _, directory) = try await startSharded(layout)
        defer {
            system.stopAll()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let sku = uniqueSKU("KILLMOVE")
        try await system.createProduct(sku, stock: 1_000)
        let customer = Self.customers[3]
        let bucket = OrderBuckets.bucket(customerId: customer)
        var ids: [String] = []
        for _ in 0..<4 { ids.append(try #require(try await checkout(system, customer: customer, sku: sku))) }

        for step in ["incoming", "copied", "fenced", "switched"] {
            let owners = try #require(try await system.service("order", "GET", "/v1/admin/shards").object["buckets"] as? [Int])
            let target = (owners[bucket] + 1) % urls.count
            let mover = try ChildProcess(
                productsDirectory + "/order",
                ["move-bucket", "\(bucket)", "\(target)"],
                environment: system.environment(of: "order").merging(["MOVE_PAUSE_AT": step]) { _, new in new }
            )
            #expect(try await system.eventually(.seconds(30)) { mover.output.contains("step \(step)") }, "\(mover.output)")
            mover.signal(SIGKILL)
            _ = await mover.wait()
            // The customer keeps checking out: a fence left by the dead mover is undone by the service
            // (BUCKET_FENCE_TIMEOUT), a finished switch is followed.
            ids.append(try #require(try await checkout(system, customer: customer, sku: sku), "checkout after a kill at \(step)"))
            // Running the move again finishes it.
            let again = try await system.runCommand("order", ["move-bucket", "\(bucket)", "\(target)"])
            #expect(again.code == 0, "\(again.output)")
            let (found, eventIds) = try await locations(urls)
            for id in ids { #expect(found[id] == [target], "after a kill at \(step): \(id) on \(found[id] ?? [])") }
            #expect(Set(eventIds).count == eventIds.count, "an event was emitted twice")
            for id in ids {
                let order = try await system.order(id, key: Self.key(customer))
                #expect(order["status"] as? String == "APPROVED", "after a kill at \(step): \(order)")
            }
        }
        let audit = try await system.runCommand("saga", [], executable: "audit")
        #expect(audit.code == 0, "\(audit.output)")
    }

    @Test(.enabled(if: PostgresCluster.isAvailable, "PostgreSQL server binaries not installed"))
    func aShardDownFailsOnlyItsCustomers() async throws {
        let shared = try await offPool { try PostgresCluster.shared() }
        let second = try await offPool { try PostgresCluster() }
        defer { second.destroy() }
        let urls = [
            try await shared.createDatabase(prefix: "order0", ownRole: true),
            try await second.createDatabase(prefix: "order1", ownRole: true),
        ]
        let system = try await start(.compose, shards: urls, cluster: shared)
        defer { system.stopAll() }
        let sku = uniqueSKU("SHARDDOWN")
        try await system.createProduct(sku, stock: 1_000)
        let onFirst = try #require(Self.customers.first { OrderBuckets.bucket(customerId: $0) % 2 == 0 })
        let onSecond = try #require(Self.customers.first { OrderBuckets.bucket(customerId: $0) % 2 == 1 })
        _ = try #require(try await checkout(system, customer: onFirst, sku: sku))
        _ = try #require(try await checkout(system, customer: onSecond, sku: sku))

        try await offPool { second.stop(mode: "immediate") }
        let refused = try await system.call("GET", "/v1/orders", key: Self.key(onSecond))
        #expect(refused.status.code == 503, "\(refused.bodyText)")
        #expect(refused.object["code"] as? String == "service_unavailable")
        let served = try await system.call("GET", "/v1/orders", key: Self.key(onFirst))
        #expect(served.status.code == 200, "\(served.bodyText)")
        let stillSelling = try await system.checkout(checkoutBody(sku: sku), key: Self.key(onFirst))
        #expect(stillSelling.status.code == 201, "\(stillSelling.bodyText)")

        try await offPool { try second.start() }
        #expect(
            try await system.eventually(.seconds(30)) {
                (try? await system.call("GET", "/v1/orders", key: Self.key(onSecond)).status.code) == 200
            }
        )
        _ = try #require(try await checkout(system, customer: onSecond, sku: sku))
    }
}
