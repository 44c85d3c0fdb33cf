import Foundation
import HTTP
import ServiceKit

/// order: orders from PENDING to APPROVED or REJECTED, priced from the inventory catalog (port 8082).
let runtime = try ServiceRuntime(name: "order", defaultPort: 8082)
let inventoryURL = try runtime.environment.url("INVENTORY_URL", default: "http://127.0.0.1:8081")
let (database, migrator) = try await runtime.openDatabase(
    defaultURL: "sqlite://data/order.db",
    migrations: Bundle.module.url(forResource: "Migrations", withExtension: nil)!
)
var router = Router()
OrderRoutes(database: database, runtime: runtime, inventoryURL: inventoryURL).mount(on: &router)
OperationsRoutes.mount(on: &router, checks: OperationsRoutes.databaseChecks(database, migrator: migrator), metrics: runtime.metrics)
let server = try runtime.makeServer(router: router, authenticated: true)
try await runtime.run([HTTPService(server: server)])
await database.close()
