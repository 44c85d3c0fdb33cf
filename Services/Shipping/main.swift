import Foundation
import HTTP
import Messaging
import ServiceKit

/// shipping: shipments scheduled, cancelled, dispatched and delivered (port 8084).
await ServiceMain.run("shipping") {
    let runtime = try ServiceRuntime(name: "shipping", defaultPort: 8084)
    let (database, migrator) = try await runtime.openDatabase(
        defaultURL: "sqlite://data/shipping.db",
        migrations: Bundle.module.url(forResource: "Migrations", withExtension: nil)!
    )
    var router = Router()
    ShippingRoutes(database: database).mount(on: &router)
    EventFeed(database: database).mount(on: &router)
    try await runtime.serve(router, database: database, migrator: migrator)
}
