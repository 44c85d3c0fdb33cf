import ArgumentParser
import FoundationEssentials
import HTTP
import Messaging
import ServiceKit
import Storage

/// shipping: shipments scheduled, cancelled, dispatched and delivered (port 8084).
enum ShippingService: ServiceDefinition {
    static let name = "shipping"
    static let abstract = "Shipments scheduled, cancelled, dispatched and delivered."
    static let defaultPort = 8084
    static let defaultDatabaseURL = "sqlite://data/shipping.db"
    static var migrations: MigrationFiles { Embedded.migrations }
    static let environmentHelp = ServiceCommand.table([
        ("ENCRYPTION_KEYS, ENCRYPTION_ACTIVE_KEY, INDEX_KEY", "data keys for sealed values (required outside development)")
    ])

    static func serve() async throws {
        let runtime = try ServiceRuntime(name: "shipping", defaultPort: 8084)
        let keyring = try runtime.keyring()
        let (database, migrator) = try await runtime.openDatabase(defaultURL: "sqlite://data/shipping.db", migrations: migrations)
        var router = Router()
        ShippingRoutes(database: database, keyring: keyring).mount(on: &router)
        EventFeed(database: database).mount(on: &router)
        try await runtime.serve(router, database: database, migrator: migrator, openAPI: try OpenAPIDocument(json: Embedded.openAPI))
    }
}

extension ShippingService: SealedServiceDefinition {
    static func sealedColumns(_ keyring: Keyring) -> [SealedColumn] { ShippingStore.sealedColumns(keyring) }
}

struct ShippingExecutable: AsyncParsableCommand {
    static let configuration = ServiceCommand.configuration(ShippingService.self, extra: [RotateKeys<ShippingService>.self])
}

@main
enum ShippingMain {
    static func main() { ProcessEntry.start(ShippingExecutable.self) }
}
