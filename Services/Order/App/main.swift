import Foundation
import HTTP
import Logging
import Messaging
import OrderCore
import ServiceKit

/// order: event-sourced orders, from PENDING to APPROVED or REJECTED, then SHIPPED, DELIVERED or CANCELLED,
/// priced from the inventory catalog; follows the payment and shipping feeds (port 8082).
///
/// `order rebuild-projections` rebuilds the read models from the event streams and exits.
await ServiceMain.run("order") {
    let arguments = Array(CommandLine.arguments.dropFirst())
    if !arguments.isEmpty {
        guard arguments == ["rebuild-projections"] else {
            FileHandle.standardError.write(Data("usage: order [rebuild-projections]\n".utf8))
            exit(64)
        }
        try await rebuildProjections()
        return
    }
    let runtime = try ServiceRuntime(name: "order", defaultPort: 8082)
    let environment = runtime.environment
    let inventoryURL = try environment.url("INVENTORY_URL", default: "http://127.0.0.1:8081")
    let paymentURL = try environment.url("PAYMENT_URL", default: "http://127.0.0.1:8083")
    let shippingURL = try environment.url("SHIPPING_URL", default: "http://127.0.0.1:8084")
    let (database, migrator) = try await runtime.openDatabase(defaultURL: "sqlite://data/order.db", migrations: OrderSchema.migrations)

    if let rebuilt = try await OrderProjection.rebuildIfOutdated(database) {
        runtime.logger.info("projections were outdated and were rebuilt", metadata: ["orders": "\(rebuilt)"])
    }
    let replica = "\(ProcessInfo.processInfo.hostName):\(runtime.port)"
    let feedWait: Int = try environment.get("FEED_WAIT_SECONDS", default: 20)
    let consumers = [
        (OrderFeeds.paymentConsumer, paymentURL, "payment", OrderFeeds.applyPayment as FeedConsumer.Handler),
        (OrderFeeds.shippingConsumer, shippingURL, "shipping", OrderFeeds.applyShipment as FeedConsumer.Handler),
    ].map { name, url, audience, handler in
        FeedConsumer(
            name: name,
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
    }
    var router = Router()
    // Order history and detail may come from a standby (DATABASE_READ_URL), with read-your-writes by token.
    let reads = try runtime.consistentReads(primary: database)
    reads.mount(on: &router)
    OrderRoutes(database: database, reads: reads, runtime: runtime, inventoryURL: inventoryURL).mount(on: &router)
    EventFeed(database: database).mount(on: &router)
    FeedConsumer.mountAdmin(consumers, on: &router)
    try await runtime.serve(router, database: database, migrator: migrator, alongside: consumers)
}

/// `order rebuild-projections`: the views rebuilt from the streams in one transaction, with only
/// `DATABASE_URL` (no secret, no port: it serves nothing). Safe while the service runs.
func rebuildProjections() async throws {
    let environment = Environment()
    let logger = Logger(label: "order")
    let (database, _) = try await ServiceRuntime.openDatabase(
        environment: environment,
        logger: logger,
        defaultURL: "sqlite://data/order.db",
        migrations: OrderSchema.migrations
    )
    let started = ContinuousClock.now
    let count = try await database.write { try OrderProjection.rebuild($0) }
    await database.close()
    print("rebuilt order_view: \(count) orders in \(ContinuousClock.now - started)")
}
