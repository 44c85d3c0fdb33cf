import Foundation
import HTTP
import Logging
import Messaging
import OrderCore
import ServiceKit

/// order: event-sourced orders, from PENDING to APPROVED or REJECTED, then SHIPPED, DELIVERED or CANCELLED,
/// priced from the inventory catalog; follows the payment and shipping feeds (port 8082). Its data may be
/// sharded by customer over several databases (`ORDER_SHARDS`).
///
/// `order rebuild-projections` rebuilds the read models from the event streams (on every shard) and exits;
/// `order move-bucket <bucket> <shard>` moves a bucket of customers to another shard while the service runs.
await ServiceMain.run("order") {
    let arguments = Array(CommandLine.arguments.dropFirst())
    if !arguments.isEmpty {
        try await OrderCommands.run(arguments)
        return
    }
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
        ).map { $0.trimmingCharacters(in: .whitespaces) }
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
        fraudReviewCents: Int64(try runtime.environment.get("FRAUD_REVIEW_CENTS", default: 100_000))
    ).mount(on: &router)
    ShardRoutes(shards: shards, logger: runtime.logger).mount(on: &router)
    FeedConsumer.mountAdmin(consumers, on: &router)
    let keeper = ShardKeeper(
        shards: shards,
        logger: runtime.logger,
        fenceTimeout: try environment.get("BUCKET_FENCE_TIMEOUT", default: 30.0)
    )
    try await runtime.serve(router, database: shards.databases[0], migrator: migrator, alongside: consumers + [keeper])
    for database in shards.databases.dropFirst() { await database.close() }
}
