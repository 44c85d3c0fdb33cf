import Foundation
import HTTP
import Messaging
import ServiceKit

/// payment: tokenised payment methods, authorisations and captures (port 8083).
await ServiceMain.run("payment") {
    let runtime = try ServiceRuntime(name: "payment", defaultPort: 8083)
    let (database, migrator) = try await runtime.openDatabase(
        defaultURL: "sqlite://data/payment.db",
        migrations: Bundle.module.url(forResource: "Migrations", withExtension: nil)!
    )
    var router = Router()
    PaymentRoutes(database: database).mount(on: &router)
    EventFeed(database: database).mount(on: &router)
    OperationsRoutes.mount(on: &router, checks: OperationsRoutes.databaseChecks(database, migrator: migrator), metrics: runtime.metrics)
    let server = try runtime.makeServer(router: router, authenticated: true)
    try await runtime.run([HTTPService(server: server)])
    await database.close()
}
