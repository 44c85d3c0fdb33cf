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

    public init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        limits: HTTPParserLimits = HTTPParserLimits(),
        maxConnections: Int = 4096,
        headerReadTimeout: Duration = .seconds(10),
        bodyReadTimeout: Duration = .seconds(30),
        keepAliveTimeout: Duration = .seconds(60),
        writeTimeout: Duration = .seconds(30),
        backlog: Int32 = 1024
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
    }
}
