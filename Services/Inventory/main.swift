import Foundation
import HTTP
import Messaging
import ServiceKit

/// inventory: products, stock and reservations (port 8081).
await ServiceMain.run("inventory") {
    let runtime = try ServiceRuntime(name: "inventory", defaultPort: 8081)
    let (database, migrator) = try await runtime.openDatabase(
        defaultURL: "sqlite://data/inventory.db",
        migrations: Bundle.module.url(forResource: "Migrations", withExtension: nil)!
    )
    var router = Router()
    // The catalog list, the auditor's views and the feed may come from a standby (DATABASE_READ_URL).
    let reads = try runtime.consistentReads(primary: database)
    reads.mount(on: &router)
    let ttl = try runtime.environment.get("RESERVATION_TTL", default: Duration.seconds(15 * 60))
    let expiry = ReservationExpiry(
        database: database,
        interval: try runtime.environment.get("RESERVATION_SWEEP_INTERVAL", default: min(ttl / 4, .seconds(5))),
        logger: runtime.logger,
        metrics: runtime.metrics
    )
    InventoryRoutes(database: database, reads: reads, reservationTTL: ttl.seconds).mount(on: &router)
    EventFeed(database: database, replica: reads.replica).mount(on: &router)
    try await runtime.serve(router, database: database, migrator: migrator, alongside: [expiry])
}
