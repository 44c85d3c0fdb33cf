import Foundation
import HTTP
import Messaging
import ServiceKit

/// payment: tokenised payment methods, authorisations and captures (port 8083).
await ServiceMain.run("payment") {
    let migrations = Bundle.module.url(forResource: "Migrations", withExtension: nil)!
    if try await KeyRotationCommand.runIfAsked(
        "payment",
        defaultURL: "sqlite://data/payment.db",
        migrations: migrations,
        columns: {
            PaymentStore(keyring: $0).sealedColumns()
        }
    ) {
        return
    }
    let runtime = try ServiceRuntime(name: "payment", defaultPort: 8083)
    let store = PaymentStore(keyring: try runtime.keyring())
    let (database, migrator) = try await runtime.openDatabase(defaultURL: "sqlite://data/payment.db", migrations: migrations)
    var router = Router()
    PaymentRoutes(database: database, store: store).mount(on: &router)
    EventFeed(database: database).mount(on: &router)
    try await runtime.serve(router, database: database, migrator: migrator)
}
