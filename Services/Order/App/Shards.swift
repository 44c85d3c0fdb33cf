import Contracts
import FoundationEssentials
import HTTP
import Logging
import Messaging
import OrderCore
import Platform
import ServiceKit
import ServiceLifecycle
import Storage
import Synchronization

/// The order service's databases: `ORDER_SHARDS` (a comma-separated list of database URLs, SQLite and
/// PostgreSQL mixed as you like), or the one `DATABASE_URL` when it is not set.
enum OrderCommands {
    /// The shards' database URLs, each with the variable it came from: `ORDER_SHARDS` when set, else `DATABASE_URL`.
    static func databaseURLs(_ environment: Environment) throws -> [(url: String, variable: String)] {
        if let list = try environment.optional("ORDER_SHARDS", as: String.self) {
            let parts = list.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
            guard !parts.isEmpty, parts.count <= 64 else {
                throw ConfigError(variable: "ORDER_SHARDS", problem: "must list 1 to 64 database URLs, separated by commas")
            }
            guard Set(parts).count == parts.count else { throw ConfigError(variable: "ORDER_SHARDS", problem: "lists a database twice") }
            return parts.enumerated().map { ($0.element, "ORDER_SHARDS[\($0.offset)]") }
        }
        return [(try environment.get("DATABASE_URL", default: "sqlite://data/order.db"), "DATABASE_URL")]
    }

    /// Opens and migrates the shards, recovers interrupted moves and loads the map. `replicas` makes each
    /// shard's standby, if it has one (the service; the maintenance commands read no standby).
    static func openShards(
        environment: Environment,
        logger: Logger,
        replicas: @Sendable ([any Database]) throws -> [ReadReplica?] = { _ in [] }
    ) async throws -> (OrderShards, Migrator) {
        let urls = try databaseURLs(environment).map { ($0.url, $0.variable) }
        var databases: [any Database] = []
        var first: Migrator?
        for (url, variable) in urls {
            let (database, migrator) = try await ServiceRuntime.openDatabase(
                url: url,
                variable: variable,
                environment: environment,
                logger: logger,
                migrations: OrderSchema.migrations
            )
            databases.append(database)
            first = first ?? migrator
        }
        let shards = OrderShards(databases: databases, replicas: try replicas(databases))
        let filled = try await shards.backfillBuckets()
        if filled > 0 { logger.info("orders given their bucket", metadata: ["orders": "\(filled)"]) }
        for done in try await shards.recoverMoves() { logger.warning("interrupted bucket move: \(done)") }
        try await shards.loadMap()
        return (shards, first!)
    }

    /// `order rebuild-projections`: needs the databases only (no secret, no port).
    static func rebuildProjections() async throws {
        let (shards, _) = try await openShards(environment: Environment(), logger: Logger(label: "order"))
        for (index, database) in shards.databases.enumerated() {
            let started = ContinuousClock.now
            let count = try await database.write { try OrderProjection.rebuild($0) }
            print("rebuilt order_view: \(count) orders in \(ContinuousClock.now - started) (shard \(index))")
        }
        for database in shards.databases { await database.close() }
    }

    /// `order move-bucket <bucket> <shard>`.
    static func moveBucket(_ bucket: Int, to shard: Int) async throws {
        let environment = Environment()
        let (shards, _) = try await openShards(environment: environment, logger: Logger(label: "order"))
        // For crash tests: stop after the named step so the test can kill the mover there.
        let pauseAt = environment.values["MOVE_PAUSE_AT"]
        let report = try await shards.moveBucket(bucket, to: shard) { step in
            StandardStream.output.write("step \(step)\n")
            if step == pauseAt { try? await Task.sleep(for: .seconds(300)) }
        }
        print(ShardRoutes.describe(report))
        for database in shards.databases { await database.close() }
    }
}

/// `GET /v1/admin/shards`: each shard (what it holds, when it can be read) and the bucket map.
struct ShardMapView: Encodable {
    let shards: [ShardView]
    let buckets: [Int]
}

struct ShardView: Encodable {
    let shard: Int
    let buckets: Int
    var available: Bool
    var orders: Int64?
    var feedHead: Int64?
    var moving: [String]?
}

/// The shards' operator routes (service token): the map, and moving a bucket.
struct ShardRoutes {
    let shards: OrderShards
    let logger: Logger
    /// One move at a time in this process.
    let moving = MoveLock()

    func mount(on router: inout Router) {
        let (shards, logger) = (self.shards, self.logger)
        let moving = self.moving
        // Each shard's own outbox as a feed; `/v1/events` stays shard 0's (the whole feed when unsharded).
        let feeds = zip(shards.databases, shards.replicas).map { EventFeed(database: $0, replica: $1) }
        feeds[0].mount(on: &router)
        router.get("/v1/shards/{shard}/events") { request in
            guard let shard = Int(request.parameters["shard"] ?? ""), feeds.indices.contains(shard) else {
                throw HTTPError.notFound("No such shard.")
            }
            return try await feeds[shard].respond(request)
        }
        // The position of every shard that has a standby, for a caller that wrote a moment ago (the gateway
        // after a checkout); 204 without standbys.
        router.get("/v1/consistency-token") { _ in
            guard let token = try await shards.token() else { return Response(status: .noContent) }
            return try Response.json(["token": token])
        }
        router.get("/v1/admin/shards") { _ in
            let map = shards.map
            var items: [ShardView] = []
            for shard in 0..<shards.count {
                var item = ShardView(shard: shard, buckets: map.filter { $0 == shard }.count, available: false)
                do {
                    let (orders, head, moving) = try await shards.read(shard: shard) { connection in
                        (
                            try connection.query("SELECT COUNT(*) AS n FROM order_view", [])[0].decode("n", as: Int64.self),
                            try Outbox.head(connection),
                            try connection.query("SELECT bucket, state FROM shard_buckets WHERE state <> 'owned'", []).map {
                                "\(try $0.decode("bucket", as: Int64.self)):\(try $0.decode("state", as: String.self))"
                            }
                        )
                    }
                    item.available = true
                    item.orders = orders
                    item.feedHead = head
                    item.moving = moving
                } catch {
                    item.available = false
                }
                items.append(item)
            }
            return try Response.json(ShardMapView(shards: items, buckets: map))
        }
        router.post("/v1/admin/buckets/{bucket}/move") { request in
            struct Move: Decodable { let shard: Int }
            guard let bucket = Int(request.parameters["bucket"] ?? ""), (0..<OrderBuckets.count).contains(bucket) else {
                throw HTTPError.validation("bucket must be an integer from 0 to \(OrderBuckets.count - 1).")
            }
            let move = try request.decode(Move.self)
            guard (0..<shards.count).contains(move.shard) else {
                throw HTTPError.validation("shard must be an integer from 0 to \(shards.count - 1).")
            }
            guard
                moving.busy.withLock({ busy in
                    defer { busy = true }
                    return !busy
                })
            else {
                throw HTTPError(.conflict, code: "move_in_progress", detail: "Another bucket is being moved; try again when it is done.")
            }
            defer { moving.busy.withLock { $0 = false } }
            let report: OrderShards.MoveReport
            do {
                report = try await shards.moveBucket(bucket, to: move.shard)
            } catch let error as OrderShards.MoveError {
                throw HTTPError(.conflict, code: "move_failed", detail: error.description)
            }
            logger.info("bucket moved", metadata: ["move": "\(describe(report))"])
            return try Response.json(
                [
                    "bucket": report.bucket, "from": report.from, "to": report.to, "orders": report.orders, "events": report.events,
                    "fencedMicroseconds": Int(
                        report.fenced.components.seconds * 1_000_000 + report.fenced.components.attoseconds / 1_000_000_000_000
                    ),
                ]
            )
        }
    }

    func describe(_ report: OrderShards.MoveReport) -> String { Self.describe(report) }

    static func describe(_ report: OrderShards.MoveReport) -> String {
        "moved bucket \(report.bucket) from shard \(report.from) to shard \(report.to): \(report.orders) orders, "
            + "\(report.events) events, writes fenced for \(report.fenced)"
    }
}

final class MoveLock: Sendable {
    let busy = Mutex(false)
}

/// Keeps the in-memory shard map fresh (a move made by `order move-bucket` in another process) and ends
/// moves whose mover died while it held a fence, so a killed mover does not keep a bucket's writes
/// waiting for more than `fenceTimeout` seconds.
struct ShardKeeper: Service {
    let shards: OrderShards
    let logger: Logger
    let fenceTimeout: TimeInterval

    func run() async throws {
        // Cancelled at graceful shutdown, so a SIGTERM does not wait for the next round.
        try await cancelWhenGracefulShutdown { await self.keep() }
    }

    private func keep() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            if Task.isCancelled { return }
            do {
                for done in try await shards.recoverMoves(olderThan: fenceTimeout) { logger.warning("interrupted bucket move: \(done)") }
                try await shards.loadMap()
            } catch {
                logger.debug("shard map not refreshed", metadata: ["error": "\(error)"])
            }
        }
    }
}
