import ArgumentParser
import Contracts
import FoundationEssentials
import HTTP
import Logging
import Messaging
import OrderCore
import Platform
import ServiceKit
import Storage

/// order: event-sourced orders, from PENDING to APPROVED or REJECTED, then SHIPPED, DELIVERED or CANCELLED,
/// priced from the inventory catalog; follows the payment and shipping feeds (port 8082). Its data may be
/// sharded by customer over several databases (`ORDER_SHARDS`).
///
/// `order rebuild-projections` rebuilds the read models from the event streams (on every shard) and exits;
/// `order move-bucket <bucket> <shard>` moves a bucket of customers to another shard while the service runs;
/// `order migrate` shows (and with `--apply` applies) each shard's migrations.
enum OrderService: ServiceDefinition {
    static let name = "order"
    static let abstract = "Event-sourced orders, priced from the catalog, following the payment and shipping feeds."
    static let defaultPort = 8082
    static let defaultDatabaseURL = "sqlite://data/order.db"
    static var migrations: MigrationFiles { OrderSchema.migrations }
    static let environmentHelp = ServiceCommand.table([
        ("ORDER_SHARDS", "database URLs of the shards, comma-separated (instead of DATABASE_URL)"),
        ("ORDER_SHARD_READ_URLS", "each shard's standby for reads, in the order of ORDER_SHARDS"),
        ("INVENTORY_URL, PAYMENT_URL, SHIPPING_URL", "the catalog and the feeds followed (default http://127.0.0.1:8081, 8083, 8084)"),
        ("FEED_WAIT_SECONDS", "long-poll wait on a feed (default 20)"),
        ("FRAUD_REVIEW_CENTS", "orders from this total are screened as suspect (default 100000)"),
        ("BUCKET_FENCE_TIMEOUT", "seconds a bucket move waits for writes in flight (default 30)"),
    ])

    static func databases(_ environment: Environment) throws -> [(label: String, url: String)] {
        try OrderCommands.databaseURLs(environment).map { ($0.variable, $0.url) }
    }

    static func serve() async throws {
        let runtime = try ServiceRuntime(name: "order", defaultPort: 8082)
        let environment = runtime.environment
        let inventoryURL = try environment.url("INVENTORY_URL", default: "http://127.0.0.1:8081")
        let paymentURL = try environment.url("PAYMENT_URL", default: "http://127.0.0.1:8083")
        let shippingURL = try environment.url("SHIPPING_URL", default: "http://127.0.0.1:8084")
        // Each shard may have a standby for reads that may be stale: DATABASE_READ_URL unsharded, else the list
        // ORDER_SHARD_READ_URLS in the order of ORDER_SHARDS (an empty entry: that shard has none).
        let (shards, migrator) = try await OrderCommands.openShards(environment: environment, logger: runtime.logger) { databases in
            guard try environment.optional("ORDER_SHARDS", as: String.self) != nil else {
                return [try runtime.consistentReads(primary: databases[0]).replica]
            }
            let urls = (try environment.optional("ORDER_SHARD_READ_URLS", as: String.self) ?? "").split(
                separator: ",",
                omittingEmptySubsequences: false
            ).map { $0.trimmingSpaces() }
            guard urls.count <= databases.count else {
                throw ConfigError(variable: "ORDER_SHARD_READ_URLS", problem: "lists more standbys than ORDER_SHARDS lists shards")
            }
            return try urls.enumerated().map { shard, url in
                try runtime.readReplica(
                    primary: databases[shard],
                    url: url,
                    variable: "ORDER_SHARD_READ_URLS[\(shard)]",
                    labels: shard == 0 ? [] : [("shard", "\(shard)")]
                )
            }
        }
        for (index, database) in shards.databases.enumerated() {
            if let rebuilt = try await OrderProjection.rebuildIfOutdated(database) {
                runtime.logger.info("projections were outdated and were rebuilt", metadata: ["orders": "\(rebuilt)", "shard": "\(index)"])
            }
        }
        let replica = "\(ProcessInfo.processInfo.hostName):\(runtime.port)"
        let feedWait: Int = try environment.get("FEED_WAIT_SECONDS", default: 20)
        // Each shard follows both feeds with its own cursor and inbox, and applies the events of the orders it owns.
        var consumers: [FeedConsumer] = []
        for (index, database) in shards.databases.enumerated() {
            for (base, url, audience, handler) in [
                (OrderFeeds.paymentConsumer, paymentURL, "payment", OrderFeeds.applyPayment as FeedConsumer.Handler),
                (OrderFeeds.shippingConsumer, shippingURL, "shipping", OrderFeeds.applyShipment as FeedConsumer.Handler),
            ] {
                consumers.append(
                    FeedConsumer(
                        name: OrderShards.consumerName(base, shard: index),
                        feedURL: url + "/v1/events",
                        database: database,
                        client: runtime.client,
                        headers: { runtime.authenticator.authorization(for: audience) },
                        logger: runtime.logger,
                        metrics: runtime.metrics,
                        wait: feedWait,
                        replica: replica,
                        handler: handler
                    )
                )
            }
        }
        var router = Router()
        // Order history, detail, listings and feeds may come from the shards' standbys, with read-your-writes by token.
        OrderRoutes(
            shards: shards,
            runtime: runtime,
            inventoryURL: inventoryURL,
            prices: CatalogPrices(),
            fraudReviewCents: Int64(try runtime.environment.get("FRAUD_REVIEW_CENTS", default: 100_000))
        ).mount(on: &router)
        ShardRoutes(shards: shards, logger: runtime.logger).mount(on: &router)
        FeedConsumer.mountAdmin(consumers, on: &router)
        let keeper = ShardKeeper(
            shards: shards,
            logger: runtime.logger,
            fenceTimeout: try environment.get("BUCKET_FENCE_TIMEOUT", default: 30.0)
        )
        try await runtime.serve(
            router,
            database: shards.databases[0],
            migrator: migrator,
            alongside: consumers + [keeper],
            openAPI: try OpenAPIDocument(json: Embedded.openAPI),
            // Every shard's writes, not only the first's (which `serve` records).
            beforeMetrics: { [databases = shards.databases, metrics = runtime.metrics] in
                OperationsRoutes.recordWrites(databases, into: metrics)
            }
        )
        for database in shards.databases.dropFirst() { await database.close() }
    }
}

/// `order rebuild-projections`.
struct RebuildProjections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild-projections",
        abstract: "Rebuild the order views from the event streams on every shard, then exit.",
        discussion: "Reads DATABASE_URL or ORDER_SHARDS. Readers see the old views or the new ones, never half of them."
    )

    func run() async throws {
        await ServiceMain.run("order") { try await OrderCommands.rebuildProjections() }
    }
}

/// `order move-bucket <bucket> <shard>`.
struct MoveBucket: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move-bucket",
        abstract: "Move a bucket of customers' orders to another shard while the service runs.",
        discussion: "Reads ORDER_SHARDS. The move is resumable: a mover killed midway is finished by the next start."
    )

    @Argument(help: "The bucket (0 to 255).")
    var bucket: Int

    @Argument(help: "The index of the shard in ORDER_SHARDS.")
    var shard: Int

    func validate() throws {
        guard (0..<OrderBuckets.count).contains(bucket) else { throw ValidationError("bucket must be 0 to \(OrderBuckets.count - 1).") }
        guard shard >= 0 else { throw ValidationError("shard must be an index into ORDER_SHARDS.") }
    }

    func run() async throws {
        let (bucket, shard) = (self.bucket, self.shard)
        await ServiceMain.run("order") { try await OrderCommands.moveBucket(bucket, to: shard) }
    }
}

struct OrderExecutable: AsyncParsableCommand {
    static let configuration = ServiceCommand.configuration(
        OrderService.self,
        extra: [RebuildProjections.self, MoveBucket.self]
    )
}

@main
enum OrderMain {
    static func main() { ProcessEntry.start(OrderExecutable.self) }
}
