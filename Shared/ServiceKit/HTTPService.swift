import HTTP
import Logging
import Platform
import ServiceLifecycle
import Storage

/// The HTTP server as a swift-service-lifecycle `Service`: serves until graceful shutdown (SIGTERM),
/// then stops accepting, lets requests in flight finish for `gracePeriod`, and returns.
public struct HTTPService: Service {
    public let server: HTTPServer
    public let gracePeriod: Duration

    public init(server: HTTPServer, gracePeriod: Duration = .seconds(10)) {
        self.server = server
        self.gracePeriod = gracePeriod
    }

    public func run() async throws {
        try server.start()
        // Returns when the service group starts a graceful shutdown (or the task is cancelled).
        try? await gracefulShutdown()
        await server.shutdown(gracePeriod: gracePeriod)
    }
}

/// How a public-facing server treats clients before routing: its head filter and its per-client cap.
public struct ServerEdge: Sendable {
    public var headFilter: HeadFilter?
    /// Default of `HTTP_MAX_CONNECTIONS_PER_CLIENT` (0: no cap).
    public var maxConnectionsPerClient: Int
    public var uncappedClients: Set<String>

    public init(headFilter: HeadFilter? = nil, maxConnectionsPerClient: Int = 0, uncappedClients: Set<String> = []) {
        self.headFilter = headFilter
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.uncappedClients = uncappedClients
    }
}

/// What every service's main sets up from its environment: logging, metrics, service auth, a client.
public struct ServiceRuntime: Sendable {
    public let name: String
    public let environment: Environment
    public let logger: Logger
    public let metrics: PrometheusRegistry
    public let authenticator: ServiceAuthenticator
    public let client: HTTPClient
    public let port: Int

    /// Reads `PORT`, `LOG_LEVEL`, `LOG_FORMAT` and the service's credentials (`ServiceAuthenticator`:
    /// `SERVICE_SIGNING_KEY` and `SERVICE_KEYS`, required outside development).
    public init(name: String, defaultPort: Int, environment: Environment = Environment(), logSink: LogSink = StandardErrorSink()) throws {
        self.name = name
        self.environment = environment
        let level = try environment.get("LOG_LEVEL", default: Logger.Level.info)
        let format = try environment.get("LOG_FORMAT", default: LogFormat.json)
        logger = Logger(label: name) { label in JSONLogHandler(label: label, service: name, level: level, format: format, sink: logSink) }
        metrics = PrometheusRegistry()
        authenticator = try ServiceAuthenticator(environment: environment, service: name)
        // EVENT_LOOPS: the loops that serve and call (the shared group, started by the client below); unset,
        // one per usable core. Several services sharing a machine's cores run faster with fewer each.
        if let loops = try environment.optional("EVENT_LOOPS", as: Int.self) {
            guard (1...64).contains(loops) else { throw ConfigError(variable: "EVENT_LOOPS", problem: "must be from 1 to 64") }
            if !EventLoopGroup.configureShared(threads: loops) && EventLoopGroup.shared.loops.count != loops {
                logger.warning(
                    "EVENT_LOOPS came after the event loops started",
                    metadata: ["running": "\(EventLoopGroup.shared.loops.count)", "asked": "\(loops)"]
                )
            }
        }
        // CPU_SCHEDULING: set by ProcessEntry before any thread started; checked here, where a bad value stops
        // the start like any other setting.
        let scheduling = try environment.get(CPUScheduling.variable, default: CPUScheduling.batch)
        if let (applied, refused) = ProcessEntry.scheduling, applied == scheduling, refused != 0 {
            logger.warning(
                "the kernel refused CPU_SCHEDULING; the threads keep their policy",
                metadata: ["asked": "\(scheduling.rawValue)", "errno": "\(refused)"]
            )
        }
        var breaker = CircuitBreaker.Policy(openDuration: try environment.get("CIRCUIT_BREAKER_OPEN", default: Duration.seconds(1)))
        if try environment.get("CIRCUIT_BREAKER", default: "on") == "off" { breaker = .off }
        client = HTTPClient(configuration: HTTPClientConfiguration(breaker: breaker))
        port = try environment.port(default: defaultPort)
        try FaultInjection.configure(environment, logger: logger)
    }

    /// The service's data and index keys (`Keyring`), for a service that keeps personal data or tokens.
    public func keyring() throws -> Keyring { try Keyring(environment: environment, service: name) }

    /// The server for `router`, wrapped in the standard middleware; `authenticated` adds the service-token check.
    public func makeServer(
        router: Router,
        authenticated: Bool,
        host: String = "0.0.0.0",
        extraMiddleware: [Middleware] = [],
        edge: ServerEdge = ServerEdge()
    ) throws -> HTTPServer {
        var middleware: [Middleware] = [ServiceMiddleware.standard(router: router, factory: metrics, logger: logger)]
        if authenticated { middleware.append(authenticator.middleware(router: router, access: ServiceAccess.of(name))) }
        middleware += extraMiddleware
        if Faults.shared.isEnabled { middleware.append(FaultInjection.middleware()) }
        let configuration = HTTPServerConfiguration(
            host: try environment.get("HOST", default: host),
            port: port,
            maxConnections: try environment.get("HTTP_MAX_CONNECTIONS", default: 4096),
            headerReadTimeout: try environment.get("HTTP_HEADER_TIMEOUT", default: Duration.seconds(10)),
            bodyReadTimeout: try environment.get("HTTP_BODY_TIMEOUT", default: Duration.seconds(30)),
            keepAliveTimeout: try environment.get("HTTP_IDLE_TIMEOUT", default: Duration.seconds(60)),
            maxConnectionsPerClient: try environment.get("HTTP_MAX_CONNECTIONS_PER_CLIENT", default: edge.maxConnectionsPerClient),
            uncappedClients: edge.uncappedClients,
            maxBufferedBodyBytes: try environment.get("HTTP_MAX_BUFFERED_BODY", default: 64 << 20)
        )
        return HTTPServer(
            configuration: configuration,
            logger: logger,
            headFilter: edge.headFilter,
            responder: chain(middleware, router.responder)
        )
    }

    /// A service's life after its wiring: mounts the operations routes (health on `database` and its
    /// migrations, metrics), serves `router` (`authenticated`: behind the service-token check) beside
    /// `services` until SIGTERM drains them, then closes the database. With `openAPI`, serves the
    /// document at `/v1/openapi.json` and stops the start when the routes and the document's operations differ.
    /// `beforeMetrics` records the service's own gauges each time `/metrics` is rendered.
    public func serve(
        _ router: Router,
        database: any Database,
        migrator: Migrator,
        alongside services: [any Service] = [],
        authenticated: Bool = true,
        extraMiddleware: [Middleware] = [],
        edge: ServerEdge = ServerEdge(),
        openAPI: OpenAPIDocument? = nil,
        beforeMetrics: @escaping @Sendable () -> Void = {}
    ) async throws {
        var router = router
        openAPI?.mount(on: &router)
        OperationsRoutes.mount(
            on: &router,
            checks: OperationsRoutes.databaseChecks(database, migrator: migrator),
            metrics: metrics,
            beforeRender: { [client, metrics] in
                OperationsRoutes.recordPeers(client, into: metrics)
                OperationsRoutes.recordWrites([database], into: metrics)
                beforeMetrics()
            }
        )
        // Behind service tokens only: the gateway (keys, not tokens) mounts its own admin-only route.
        if authenticated { FaultInjection.mount(on: &router) }
        AuditLogRoute.mount(on: &router, database: database)
        try openAPI?.check(mounted: router.mounted)
        let server = try makeServer(router: router, authenticated: authenticated, extraMiddleware: extraMiddleware, edge: edge)
        try await run(services + [HTTPService(server: server)])
        await database.close()
    }

    /// Runs the services until SIGTERM or SIGINT, then shuts them down gracefully in reverse order.
    public func run(_ services: [any Service]) async throws {
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
