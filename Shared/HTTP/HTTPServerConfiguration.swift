/// Settings of an `HTTPServer`. Every limit and every wait has a safe default.
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind; `0.0.0.0` for all IPv4 interfaces, `::` for IPv6.
    public var host: String
    /// Port to bind; 0 picks a free one (tests).
    public var port: Int
    /// Byte and count limits of each request.
    public var limits: HTTPParserLimits
    /// Connections held at once; further clients get a 503 and are closed.
    public var maxConnections: Int
    /// Time a client has to send a complete request head, from its first byte (or from connecting).
    public var headerReadTimeout: Duration
    /// Time a client has to send the body once the head has arrived.
    public var bodyReadTimeout: Duration
    /// Time an idle keep-alive connection is kept open between requests.
    public var keepAliveTimeout: Duration
    /// Time a response may wait for a client that does not read it.
    public var writeTimeout: Duration
    /// `listen(2)` backlog.
    public var backlog: Int32
    /// Connections held at once from one client address (0: no cap). Past it, the client gets a 503.
    public var maxConnectionsPerClient: Int
    /// Addresses the per-client cap does not apply to (a TLS proxy in front carries every client).
    public var uncappedClients: Set<String>
    /// Request body bytes the server buffers at once over all connections. A request whose declared body
    /// would pass it is answered 503 before its body is read.
    public var maxBufferedBodyBytes: Int
    /// Time accepting pauses when the process is out of descriptors (`EMFILE`, `ENFILE`).
    public var acceptBackoff: Duration

    public init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        limits: HTTPParserLimits = HTTPParserLimits(),
        maxConnections: Int = 4096,
        headerReadTimeout: Duration = .seconds(10),
        bodyReadTimeout: Duration = .seconds(30),
        keepAliveTimeout: Duration = .seconds(60),
        writeTimeout: Duration = .seconds(30),
        backlog: Int32 = 1024,
        maxConnectionsPerClient: Int = 0,
        uncappedClients: Set<String> = [],
        maxBufferedBodyBytes: Int = 64 << 20,
        acceptBackoff: Duration = .milliseconds(100)
    ) {
        self.host = host
        self.port = port
        self.limits = limits
        self.maxConnections = maxConnections
        self.headerReadTimeout = headerReadTimeout
        self.bodyReadTimeout = bodyReadTimeout
        self.keepAliveTimeout = keepAliveTimeout
        self.writeTimeout = writeTimeout
        self.backlog = backlog
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.uncappedClients = uncappedClients
        self.maxBufferedBodyBytes = maxBufferedBodyBytes
        self.acceptBackoff = acceptBackoff
    }
}
