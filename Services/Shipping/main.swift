import Foundation
import HTTP
import Messaging
import ServiceKit

/// shipping: shipments scheduled, cancelled, dispatched and delivered (port 8084).
await ServiceMain.run("shipping") {
    let migrations = Bundle.module.url(forResource: "Migrations", withExtension: nil)!
    if try await KeyRotationCommand.runIfAsked(
        "shipping",
        defaultURL: "sqlite://data/shipping.db",
        migrations: migrations,
        columns: ShippingStore.sealedColumns
    ) {
        return
    }
    let runtime = try ServiceRuntime(name: "shipping", defaultPort: 8084)
    let keyring = try runtime.keyring()
    let (database, migrator) = try await runtime.openDatabase(defaultURL: "sqlite://data/shipping.db", migrations: migrations)
    var router = Router()
    ShippingRoutes(database: database, keyring: keyring).mount(on: &router)
    EventFeed(database: database).mount(on: &router)
    try await runtime.serve(router, database: database, migrator: migrator)
}
