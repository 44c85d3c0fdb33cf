import ArgumentParser
import AuditorCore
import Contracts
import FoundationEssentials
import HTTP
import Messaging
import ServiceKit
import Storage

/// gateway: the public API, API keys and roles, idempotent checkout (port 8080).
enum GatewayService: ServiceDefinition {
    static let name = "gateway"
    static let abstract = "The public API: API keys and roles, idempotent checkout, the console and the OpenAPI document."
    static let defaultPort = 8080
    static let defaultDatabaseURL = "sqlite://data/gateway.db"
    static var migrations: MigrationFiles { Embedded.migrations }
    static let environmentHelp = ServiceCommand.table([
        ("ADMIN_API_KEY, ADMIN_API_KEYS", "the operators' keys (ADMIN_API_KEYS: name:key,...)"),
        ("CUSTOMER_API_KEYS", "customers' keys (customer:key,...)"),
        ("INVENTORY_URL, ORDER_URL, PAYMENT_URL, SHIPPING_URL, SAGA_URL", "the services (default http://127.0.0.1:8081 ... 8085)"),
        ("CHECKOUT_WAIT", "how long POST /v1/checkout waits for the saga before 202 (default 10s)"),
        ("CHECKOUT_MAX_IN_FLIGHT", "checkouts in progress at once; more are refused 503 (default 64)"),
        ("CHECKOUT_LATENCY_TARGET", "the p90 checkout latency the in-flight limit adapts to (default 180ms; off: fixed)"),
        ("CATALOG_CACHE_TTL, CATALOG_CACHE_ENTRIES", "the catalog cache (default 30s, 1000)"),
        ("RATE_LIMITS", "per key, per address and per customer's checkouts (see README)"),
        ("TRUSTED_PROXIES", "proxies whose X-Forwarded-For is believed"),
        ("GATEWAY_MAX_BODY", "the largest request body (default 65536 bytes)"),
        ("ENCRYPTION_KEYS, ENCRYPTION_ACTIVE_KEY, INDEX_KEY", "data keys for sealed values (required outside development)"),
    ])

    /// The public API's document in the gateway's bundle.
    static func openAPI() throws -> OpenAPIDocument { try OpenAPIDocument(json: Embedded.openAPI) }

    static func serve() async throws {
        let runtime = try ServiceRuntime(name: "gateway", defaultPort: 8080)
        let keyring = try runtime.keyring()
        let environment = runtime.environment
        let keys = try APIKeys(environment: environment)
        let edge = try GatewayEdge(keys: keys, environment: environment)
        let backends = Backends(
            runtime: runtime,
            urls: [
                "inventory": try environment.url("INVENTORY_URL", default: "http://127.0.0.1:8081"),
                "order": try environment.url("ORDER_URL", default: "http://127.0.0.1:8082"),
                "payment": try environment.url("PAYMENT_URL", default: "http://127.0.0.1:8083"),
                "shipping": try environment.url("SHIPPING_URL", default: "http://127.0.0.1:8084"),
                "saga": try environment.url("SAGA_URL", default: "http://127.0.0.1:8085"),
            ]
        )
        let (database, migrator) = try await runtime.openDatabase(defaultURL: "sqlite://data/gateway.db", migrations: migrations)
        let catalog = CatalogCache(
            ttl: try environment.get("CATALOG_CACHE_TTL", default: Duration.seconds(30)),
            capacity: try environment.get("CATALOG_CACHE_ENTRIES", default: 1000),
            metrics: runtime.metrics
        )
        // Follows inventory's feed so a price or stock change reaches the cache at once, not at the TTL.
        let catalogFeed = FeedConsumer(
            name: "catalog-cache",
            feedURL: backends.urls["inventory"]! + "/v1/events",
            database: database,
            client: runtime.client,
            headers: { runtime.authenticator.authorization(for: "inventory") },
            logger: runtime.logger,
            metrics: runtime.metrics,
            replica: "\(ProcessInfo.processInfo.hostName):\(runtime.port)",
            handler: { _, event in
                if event.type == InventoryAPI.ProductChanged.type, let sku = try? event.decode(InventoryAPI.ProductChanged.self).sku {
                    catalog.invalidate(sku: sku)
                }
            }
        )
        let admission = Admission(
            limit: try environment.get("CHECKOUT_MAX_IN_FLIGHT", default: 64),
            latencyTarget: try environment.latencyTarget("CHECKOUT_LATENCY_TARGET", default: .milliseconds(180))
        )
        var router = Router()
        Console.embedded().mount(on: &router)
        GatewayRoutes(
            backends: backends,
            tokens: ConsistencyTokens(backends: backends),
            catalog: catalog,
            checkouts: CheckoutStore(database: database, keyring: keyring),
            checkoutWait: try environment.get("CHECKOUT_WAIT", default: Duration.seconds(10)),
            admission: admission,
            keyring: keyring
        ).mount(on: &router)
        // Operators reach the gateway's own consumer with the admin key (the services' consumers sit behind service tokens).
        FeedConsumer.mountAdmin([catalogFeed], on: &router, authorize: { try Access.requireAdmin() })
        // The consistency auditor, for the admin key: the services through their APIs, and this gateway's own consumer.
        let auditor = Auditor(
            client: runtime.client,
            authenticator: runtime.authenticator,
            urls: backends.urls,
            consumers: Auditor.serviceConsumers + [
                Auditor.Consumer(service: "gateway", name: catalogFeed.name, feed: "inventory") {
                    let status = try await catalogFeed.status()
                    return (status.seq, status.deadLetters)
                }
            ],
            limits: try AuditLimits(environment: environment)
        )
        router.get("/v1/admin/consistency") { _ in
            try Access.requireAdmin()
            do {
                return try Response.json(try await auditor.run())
            } catch let failure as Auditor.Failure {
                runtime.logger.warning("consistency audit failed", metadata: ["error": "\(failure)"])
                throw HTTPError(.serviceUnavailable, code: "service_unavailable", detail: "A service the auditor reads is unavailable.")
            }
        }
        try await runtime.serve(
            router,
            database: database,
            migrator: migrator,
            alongside: [catalogFeed],
            authenticated: false,
            extraMiddleware: [edge.middleware(), ConsistencyTokens.middleware()],
            edge: ServerEdge(headFilter: edge.headFilter, maxConnectionsPerClient: 256, uncappedClients: edge.trustedProxies),
            openAPI: try openAPI(),
            beforeMetrics: { admission.record(into: runtime.metrics, work: "checkout") }
        )
    }
}

extension GatewayService: SealedServiceDefinition {
    static func sealedColumns(_ keyring: Keyring) -> [SealedColumn] { CheckoutStore.sealedColumns(keyring) }
}

struct GatewayExecutable: AsyncParsableCommand {
    static let configuration = ServiceCommand.configuration(GatewayService.self, extra: [RotateKeys<GatewayService>.self])
}

@main
enum GatewayMain {
    static func main() { ProcessEntry.start(GatewayExecutable.self) }
}
