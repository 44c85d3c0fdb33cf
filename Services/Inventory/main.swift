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
    OperationsRoutes.mount(on: &router, checks: OperationsRoutes.databaseChecks(database, migrator: migrator), metrics: runtime.metrics)
    let server = try runtime.makeServer(router: router, authenticated: true)
    try await runtime.run([HTTPService(server: server)])
    await database.close()
}
