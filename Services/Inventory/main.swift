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
    InventoryRoutes(database: database).mount(on: &router)
    EventFeed(database: database).mount(on: &router)
    try await runtime.serve(router, database: database, migrator: migrator)
}
