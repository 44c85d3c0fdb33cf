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
    try await runtime.serve(router, database: database, migrator: migrator)
}
