import ArgumentParser
import FoundationEssentials
import HTTP
import Messaging
import ServiceKit
import Storage

/// payment: tokenised payment methods, authorisations and captures (port 8083).
enum PaymentService: ServiceDefinition {
    static let name = "payment"
    static let abstract = "Tokenised payment methods, authorisations, captures, voids and refunds."
    static let defaultPort = 8083
    static let defaultDatabaseURL = "sqlite://data/payment.db"
    static var migrations: MigrationFiles { Embedded.migrations }
    static let environmentHelp = ServiceCommand.table([
        ("ENCRYPTION_KEYS, ENCRYPTION_ACTIVE_KEY, INDEX_KEY", "data keys for sealed values (required outside development)")
    ])

    static func serve() async throws {
        let runtime = try ServiceRuntime(name: "payment", defaultPort: 8083)
        let store = PaymentStore(keyring: try runtime.keyring())
        let (database, migrator) = try await runtime.openDatabase(defaultURL: "sqlite://data/payment.db", migrations: migrations)
        var router = Router()
        PaymentRoutes(database: database, store: store).mount(on: &router)
        EventFeed(database: database).mount(on: &router)
        try await runtime.serve(router, database: database, migrator: migrator, openAPI: try OpenAPIDocument(json: Embedded.openAPI))
    }
}

extension PaymentService: SealedServiceDefinition {
    static func sealedColumns(_ keyring: Keyring) -> [SealedColumn] { PaymentStore(keyring: keyring).sealedColumns() }
}

struct PaymentExecutable: AsyncParsableCommand {
    static let configuration = ServiceCommand.configuration(PaymentService.self, extra: [RotateKeys<PaymentService>.self])
}

@main
enum PaymentMain {
    static func main() { ProcessEntry.start(PaymentExecutable.self) }
}
