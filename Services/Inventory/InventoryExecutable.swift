import ArgumentParser
import FoundationEssentials
import HTTP
import Messaging
import ServiceKit
import Storage

/// inventory: products, stock and reservations (port 8081).
enum InventoryService: ServiceDefinition {
    static let name = "inventory"
    static let abstract = "Products, stock and reservations."
    static let defaultPort = 8081
    static let defaultDatabaseURL = "sqlite://data/inventory.db"
    static var migrations: MigrationFiles { Embedded.migrations }
    static let environmentHelp = ServiceCommand.table([
        ("RESERVATION_TTL", "how long a reservation holds stock before inventory releases it (default 15m)"),
        ("RESERVATION_SWEEP_INTERVAL", "how often expired holds are released (default min(TTL/4, 5s))"),
    ])

    static func serve() async throws {
        let runtime = try ServiceRuntime(name: "inventory", defaultPort: 8081)
        let (database, migrator) = try await runtime.openDatabase(
            defaultURL: "sqlite://data/inventory.db",
            migrations: migrations
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
        try await runtime.serve(
            router,
            database: database,
            migrator: migrator,
            alongside: [expiry],
            openAPI: try OpenAPIDocument(json: Embedded.openAPI)
        )
    }
}

struct InventoryExecutable: AsyncParsableCommand {
    static let configuration = ServiceCommand.configuration(InventoryService.self, extra: [])
}

@main
enum InventoryMain {
    static func main() { ProcessEntry.start(InventoryExecutable.self) }
}
