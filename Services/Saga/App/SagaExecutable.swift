import ArgumentParser
import FoundationEssentials
import HTTP
import SagaCore
import ServiceKit
import Storage

/// saga: orchestrates checkout across order, inventory, payment and shipping (port 8085).
enum SagaService: ServiceDefinition {
    static let name = "saga"
    static let abstract = "Orchestrates checkout and cancellation across order, inventory, payment and shipping."
    static let defaultPort = 8085
    static let defaultDatabaseURL = "sqlite://data/saga.db"
    static var migrations: MigrationFiles { Embedded.migrations }
    static let environmentHelp = ServiceCommand.table([
        ("ORDER_URL, INVENTORY_URL, PAYMENT_URL, SHIPPING_URL", "the participants (default http://127.0.0.1:8081 ... 8084)"),
        ("CHECKOUT_SAGA_VERSION", "the checkout definition new sagas start with (1 to 5; default 5)"),
        ("SAGA_CALL_TIMEOUT", "one participant call (default 5s)"),
        ("SAGA_STEP_DEADLINE", "retrying a step before the pivot compensates (default 30s)"),
        (
            "SAGA_LEASE, SAGA_CLAIM_INTERVAL, SAGA_REPLICA_ID",
            "replicas: the lease on a saga, how often unclaimed ones are taken, this replica's name"
        ),
        ("SAGA_STUCK_AFTER", "a saga without progress this long is flagged stuck"),
        ("SAGA_MAX_ACTIVE", "sagas driven at once; more are refused 503 (default 512)"),
        ("ENCRYPTION_KEYS, ENCRYPTION_ACTIVE_KEY, INDEX_KEY", "data keys for sealed values (required outside development)"),
    ])

    static func serve() async throws {
        let runtime = try ServiceRuntime(name: "saga", defaultPort: 8085)
        let keyring = try runtime.keyring()
        let environment = runtime.environment
        let participants = Participants(
            runtime: runtime,
            orderURL: try environment.url("ORDER_URL", default: "http://127.0.0.1:8082"),
            inventoryURL: try environment.url("INVENTORY_URL", default: "http://127.0.0.1:8081"),
            paymentURL: try environment.url("PAYMENT_URL", default: "http://127.0.0.1:8083"),
            shippingURL: try environment.url("SHIPPING_URL", default: "http://127.0.0.1:8084"),
            callTimeout: try environment.get("SAGA_CALL_TIMEOUT", default: Duration.seconds(5))
        )
        let stepDeadline = try environment.get("SAGA_STEP_DEADLINE", default: Duration.seconds(30))
        let (database, migrator) = try await runtime.openDatabase(defaultURL: "sqlite://data/saga.db", migrations: migrations)
        let lease = try environment.get("SAGA_LEASE", default: Duration.seconds(10))
        let store = SagaStore(
            database: database,
            // Stable across restarts on one host and port, unique among live replicas: a restarted replica takes
            // its own sagas back at once instead of waiting for their leases to expire.
            replica: try environment.get("SAGA_REPLICA_ID", default: "\(ProcessInfo.processInfo.hostName):\(runtime.port)"),
            lease: lease.seconds,
            keyring: keyring
        )
        let runner = SagaRunner(
            store: store,
            participants: participants,
            stepDeadline: stepDeadline.seconds,
            claimInterval: try environment.get("SAGA_CLAIM_INTERVAL", default: Duration.seconds(1)),
            logger: runtime.logger,
            metrics: runtime.metrics,
            stuckAfter: try environment.optional("SAGA_STUCK_AFTER", as: Duration.self)?.seconds
        )
        var router = Router()
        // The saga list and the auditor's view may come from a standby (DATABASE_READ_URL).
        let reads = try runtime.consistentReads(primary: database)
        reads.mount(on: &router)
        // The checkout definition new sagas start on; a saga finishes on the version it started with.
        let version = try environment.get("CHECKOUT_SAGA_VERSION", default: SagaDefinition.currentCheckoutVersion)
        guard let checkoutDefinition = SagaDefinition.checkouts[version] else {
            throw ConfigError(variable: "CHECKOUT_SAGA_VERSION", problem: "must be one of \(SagaDefinition.checkouts.keys.sorted())")
        }
        SagaRoutes(
            store: store,
            runner: runner,
            reads: reads,
            checkoutDefinition: checkoutDefinition,
            maxActive: try environment.get("SAGA_MAX_ACTIVE", default: 512)
        ).mount(on: &router)
        SagaReconciliation(store: store, participants: participants, logger: runtime.logger, reads: reads).mount(on: &router)
        try await runtime.serve(
            router,
            database: database,
            migrator: migrator,
            alongside: [runner],
            openAPI: try OpenAPIDocument(json: Embedded.openAPI)
        )
    }
}

extension SagaService: SealedServiceDefinition {
    static func sealedColumns(_ keyring: Keyring) -> [SealedColumn] { SagaStore.sealedColumns(keyring) }
}

struct SagaExecutable: AsyncParsableCommand {
    static let configuration = ServiceCommand.configuration(SagaService.self, extra: [RotateKeys<SagaService>.self])
}

@main
enum SagaMain {
    static func main() { ProcessEntry.start(SagaExecutable.self) }
}
