import Contracts
import Foundation
import HTTP
import Messaging
import OrderCore
import Storage
import Synchronization
import TestSupport
import Testing

/// Orders sharded by customer, in process: the bucket hash, the map, writes and reads by owner, and a
/// bucket moved while writes go on, on SQLite files, PostgreSQL databases, and the two mixed.
@Suite("Order shards")
struct OrderShardsTests {
    @Test func customersSpreadEvenlyOverFourShardsAndTheHashIsStable() {
        // Round robin of the 256 buckets over 4 shards, as a fresh set gets them.
        var perShard = [0, 0, 0, 0]
        for n in 0..<10_000 { perShard[OrderBuckets.bucket(customerId: "customer-\(n)") % 4] += 1 }
        let mean = 10_000.0 / 4
        for count in perShard { #expect(abs(Double(count) - mean) / mean <= 0.25, "\(perShard)") }
        // The hash is part of the data's layout: these values must never change.
        #expect(OrderBuckets.bucket(customerId: "alice") == OrderBuckets.bucket(customerId: "alice"))
        let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
        #expect(OrderBuckets.bucket(customerId: "") == Int(offsetBasis % 256))
        #expect(OrderBuckets.bucket(customerId: "alice") == 7)
    }

    @Test func anOrderIdCarriesItsCustomersBucket() {
        for customer in ["alice", "bob", "customer-7", "ü"] {
            let id = OrderBuckets.orderId(UUID().uuidString, customerId: customer)
            #expect(id.count == 36)
            #expect(UUID(uuidString: id) != nil)
            #expect(OrderBuckets.hint(orderId: id) == OrderBuckets.bucket(customerId: customer))
            #expect(OrderBuckets.bucket(orderId: id, customerId: "") == OrderBuckets.bucket(customerId: customer))
        }
        #expect(OrderBuckets.hint(orderId: "o-1") == nil)
        #expect(OrderBuckets.hint(orderId: "0190b3c4-0000-7000-8000-0000000000zz") == nil)
    }

    /// Shards of each kind: SQLite files, PostgreSQL databases, and one of each.
    static let kinds: [String] = PostgresCluster.isAvailable ? ["sqlite", "postgres", "mixed"] : ["sqlite"]

    func withShards(_ kind: String, count: Int, _ body: (OrderShards) async throws -> Void) async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var databases: [any Database] = []
        for index in 0..<count {
            let postgres = kind == "postgres" || (kind == "mixed" && index % 2 == 1)
            // The shared cluster is made (initdb, start) off the cooperative pool: blocking it there starved
            // the HTTP servers of other tests running at the same time.
            let url =
                postgres
                ? try await offPool { try PostgresCluster.shared() }.createDatabase(prefix: "shard")
                : "sqlite://\(directory)/order-\(index).db"
            let database = try await Storage.open(url: try DatabaseURL(url), poolSize: 4)
            _ = try await Migrator(try OrderSchema.migrations.migrations(for: database.dialect)).migrate(database)
            databases.append(database)
        }
        let shards = OrderShards(databases: databases)
        try await shards.loadMap()
        try await body(shards)
        for database in databases { await database.close() }
    }

    func place(_ shards: OrderShards, customer: String) async throws -> String {
        let id = OrderBuckets.orderId(UUID().uuidString, customerId: customer)
        try await shards.write(bucket: OrderBuckets.bucket(customerId: customer)) { connection in
            try OrderEventStore.execute(connection, id: id) {
                try $0.create(
                    customerId: customer,
                    checkoutId: "c-\(id)",
                    lines: [OrderAPI.Line(sku: "A", quantity: 1, unitPriceCents: 100)],
                    currency: "EUR"
                )
            }
        }
        return id
    }

    /// Where each order is, by shard (read from every shard's tables directly).
    func locations(_ shards: OrderShards) async throws -> [String: [Int]] {
        var found: [String: [Int]] = [:]
        for (index, database) in shards.databases.enumerated() {
            let ids = try await database.read { connection in
                try connection.query("SELECT DISTINCT order_id FROM order_events", []).map { try $0.decode("order_id", as: String.self) }
            }
            for id in ids { found[id, default: []].append(index) }
        }
        return found
    }

    @Test(arguments: kinds)
    func eachCustomersOrdersLiveOnExactlyTheShardThatOwnsTheirBucket(_ kind: String) async throws {
        try await withShards(kind, count: 4) { shards in
            #expect(shards.map.enumerated().allSatisfy { $0.element == $0.offset % 4 })
            var placed: [String: String] = [:]
            for n in 0..<80 { placed[try await place(shards, customer: "customer-\(n % 20)")] = "customer-\(n % 20)" }
            let found = try await locations(shards)
            #expect(found.count == 80)
            for (id, customer) in placed {
                #expect(found[id] == [OrderBuckets.bucket(customerId: customer) % 4], "\(id)")
                #expect(try await shards.locate(orderId: id) == OrderBuckets.bucket(customerId: customer))
            }
            // A second load of the map (another process) reads the same map from the shards.
            let again = OrderShards(databases: shards.databases)
            try await again.loadMap()
            #expect(again.map == shards.map)
        }
    }

    @Test(arguments: kinds)
    func aBucketMovesWhileItsCustomerKeepsWriting(_ kind: String) async throws {
        try await withShards(kind, count: 2) { shards in
            let customer = "mover"
            let bucket = OrderBuckets.bucket(customerId: customer)
            let source = shards.owner(of: bucket)
            var before: [String] = []
            for _ in 0..<30 { before.append(try await place(shards, customer: customer)) }
            for n in 0..<10 { _ = try await place(shards, customer: "other-\(n)") }
            // Writers to the moving bucket run throughout; each write lands once, on the owner of the moment.
            async let writes: [String] = {
                var ids: [String] = []
                var refusals = 0
                while ids.count < 40 {
                    do {
                        ids.append(try await place(shards, customer: customer))
                    } catch let error as HTTPError where error.status.code == 503 && error.headers["Retry-After"] == "1" {
                        // Fenced for longer than a write waits: retried, as a client told Retry-After does.
                        refusals += 1
                        #expect(refusals < 50)
                    }
                    try await Task.sleep(for: .milliseconds(2))
                }
                return ids
            }()
            try await Task.sleep(for: .milliseconds(20))
            let report = try await shards.moveBucket(bucket, to: 1 - source)
            let during = try await writes
            #expect(report.from == source && report.to == 1 - source)
            #expect(report.orders >= 30)
            #expect(during.count == 40)
            #expect(shards.owner(of: bucket) == 1 - source)
            let found = try await locations(shards)
            for id in before + during { #expect(found[id] == [1 - source], "\(id) is on \(found[id] ?? [])") }
            // The source kept nothing of the bucket; its views and idempotency records went with it.
            let left = try await shards.databases[source].read { connection in
                try connection.query("SELECT COUNT(*) AS n FROM order_view WHERE bucket = $1", Int64(bucket))[0].decode("n", as: Int64.self)
            }
            #expect(left == 0)
            // The views rebuilt on each shard from its streams equal the ones moved and kept.
            for database in shards.databases {
                let kept = try await database.read { try OrderProjection.dump($0) }
                let rebuilt = try await database.write { connection -> [OrderAPI.Order] in
                    try OrderProjection.rebuild(connection)
                    return try OrderProjection.dump(connection)
                }
                #expect(kept == rebuilt)
            }
            // A move to where the bucket is changes nothing; a bad bucket or shard is refused.
            #expect(try await shards.moveBucket(bucket, to: 1 - source).orders == 0)
            await #expect(throws: OrderShards.MoveError.self) { try await shards.moveBucket(999, to: 0) }
            await #expect(throws: OrderShards.MoveError.self) { try await shards.moveBucket(bucket, to: 7) }
        }
    }

    @Test(arguments: kinds)
    func anInterruptedMoveIsFinishedOrUndoneWithNothingLostOrDoubled(_ kind: String) async throws {
        for step in ["incoming", "copied", "fenced", "switched"] {
            try await withShards(kind, count: 2) { shards in
                let customer = "interrupted-\(step)"
                let bucket = OrderBuckets.bucket(customerId: customer)
                let source = shards.owner(of: bucket)
                var ids: [String] = []
                for _ in 0..<5 { ids.append(try await place(shards, customer: customer)) }
                // The mover stops for good at `step` (as if killed there): its task is abandoned.
                let stopped = Flag()
                let mover = Task {
                    try await shards.moveBucket(bucket, to: 1 - source) { reached in
                        guard reached == step else { return }
                        stopped.set()
                        try? await Task.sleep(for: .seconds(3600))
                    }
                }
                // A minute at most: a mover that failed before `step` never sets the flag.
                let deadline = ContinuousClock.now + .seconds(60)
                while !stopped.isSet, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                if !stopped.isSet {
                    Issue.record("the mover never reached \(step): \(await mover.result)")
                    return
                }
                // Another process (the service after a restart) recovers.
                let other = OrderShards(databases: shards.databases)
                let done = try await other.recoverMoves()
                #expect(done.count <= 1, "\(done)")
                let owner = other.owner(of: bucket)
                #expect(owner == (step == "switched" ? 1 - source : source), "after \(step): \(done)")
                let found = try await locations(shards)
                for id in ids { #expect(found[id] == [owner], "after \(step): \(id) on \(found[id] ?? [])") }
                // And writes to the bucket go on, to its owner.
                let after = try await other.write(bucket: bucket) { try Self.ownedHere($0, bucket) }
                #expect(after)
                mover.cancel()
                _ = await mover.result
            }
        }
    }

    static func ownedHere(_ connection: DatabaseConnection, _ bucket: Int) throws -> Bool {
        try connection.queryOne("SELECT state FROM shard_buckets WHERE bucket = $1", Int64(bucket))?.decode("state", as: String.self)
            == "owned"
    }

    @Test(arguments: kinds)
    func aShardThatIsGoneFailsOnlyItsCustomers(_ kind: String) async throws {
        try await withShards(kind, count: 2) { shards in
            let customers = (0..<40).map { "gone-\($0)" }
            let onFirst = try #require(customers.first { shards.owner(of: OrderBuckets.bucket(customerId: $0)) == 0 })
            let onSecond = try #require(customers.first { shards.owner(of: OrderBuckets.bucket(customerId: $0)) == 1 })
            _ = try await place(shards, customer: onSecond)
            // Shard 1's database goes away (closed: every call on it fails, as on a server that is down).
            await shards.databases[1].close()
            for attempt in [
                { _ = try await place(shards, customer: onSecond) },
                { _ = try await shards.read(bucket: OrderBuckets.bucket(customerId: onSecond)) { _ in 0 } },
                { _ = try await shards.gather { _ in 0 } },
            ] as [@Sendable () async throws -> Void] {
                do {
                    try await attempt()
                    Issue.record("a call on the lost shard succeeded")
                } catch let error as HTTPError {
                    #expect(error.status.code == 503 && error.code == "service_unavailable")
                    #expect(error.headers["Retry-After"] == "1")
                }
            }
            // Everyone else is served.
            _ = try await place(shards, customer: onFirst)
            _ = try await shards.read(bucket: OrderBuckets.bucket(customerId: onFirst)) { _ in 0 }
        }
    }

    @Test func aFencedBucketMakesWritesWaitThenAnswer503WithRetryAfter() async throws {
        try await withShards("sqlite", count: 1) { shards in
            let bucket = OrderBuckets.bucket(customerId: "fenced")
            try await shards.databases[0].write { connection in
                try connection.execute("UPDATE shard_buckets SET state = 'fenced', peer = 0 WHERE bucket = $1", Int64(bucket))
            }
            do {
                _ = try await place(shards, customer: "fenced")
                Issue.record("a write to a fenced bucket went through")
            } catch let error as HTTPError {
                #expect(error.status.code == 503)
                #expect(error.headers["Retry-After"] == "1")
            }
            // Other customers are not held.
            _ = try await place(shards, customer: "free")
        }
    }

    @Test func aFeedEventForAMovingOrderIsDeferredNotSkipped() async throws {
        try await withShards("sqlite", count: 1) { shards in
            let id = try await place(shards, customer: "deferred")
            let bucket = OrderBuckets.bucket(customerId: "deferred")
            let event = StoredEvent(
                seq: 1,
                id: "e1",
                type: PaymentAPI.PaymentChanged.type,
                version: 1,
                aggregateId: "p1",
                occurredAt: Date(),
                traceparent: nil,
                data: #"{"paymentId":"p1","orderId":"\#(id)","status":"AUTHORIZED","amountCents":100,"currency":"EUR"}"#
            )
            try await shards.databases[0].write { connection in
                try connection.execute("UPDATE shard_buckets SET state = 'fenced', peer = 0 WHERE bucket = $1", Int64(bucket))
            }
            await #expect(throws: DeferredEvent.self) {
                try await shards.databases[0].write { try OrderFeeds.applyPayment($0, event) }
            }
            // Incoming (a copy not yet served here): skipped, the move rewinds this shard's cursor for it.
            try await shards.databases[0].write { connection in
                try connection.execute("UPDATE shard_buckets SET state = 'incoming' WHERE bucket = $1", Int64(bucket))
                try OrderFeeds.applyPayment(connection, event)
                #expect(try OrderEventStore.load(connection, id: id).payment == nil)
                try connection.execute("UPDATE shard_buckets SET state = 'owned' WHERE bucket = $1", Int64(bucket))
                try OrderFeeds.applyPayment(connection, event)
                #expect(try OrderEventStore.load(connection, id: id).payment?.status == "AUTHORIZED")
            }
        }
    }
}

/// A flag one task sets and another polls.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
