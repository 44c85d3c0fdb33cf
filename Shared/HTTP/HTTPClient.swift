import CSystem
import FoundationEssentials
import Glibc
import Platform
import Synchronization

/// Why a call through `HTTPClient` failed before a complete response arrived.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalidURL
        case connectFailed
        case timeout
        case connectionClosed
        case responseTooLarge
        case invalidResponse
        /// The connection was dropped after the request was sent (an injected `reset`): it may have applied.
        case connectionReset
        /// The destination's circuit breaker is open: the call failed at once, without connecting.
        case circuitOpen
    }

    public let kind: Kind
    public let detail: String
    /// For `circuitOpen`: how long until the breaker lets a probe through.
    public var retryAfter: Duration?

    /// `Retry-After` for a caller's answer: whole seconds until the probe, rounded up, 1 at least.
    public var retryAfterSeconds: Int {
        retryAfter.map { max(1, Int($0.components.seconds) + ($0.components.attoseconds > 0 ? 1 : 0)) } ?? 1
    }

    public init(_ kind: Kind, _ detail: String, retryAfter: Duration? = nil) {
        self.kind = kind
        self.detail = detail
        self.retryAfter = retryAfter
    }

    public var description: String { "\(kind): \(detail)" }
}

/// When and how often a call is repeated. Only calls whose caller asks are retried.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    /// Retry 502, 503 and 504 answers as well as transport failures.
    public var retryServerErrors: Bool

    public init(
        maxAttempts: Int = 3,
        initialBackoff: Duration = .milliseconds(50),
        maxBackoff: Duration = .seconds(1),
        retryServerErrors: Bool = true
    ) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.retryServerErrors = retryServerErrors
    }

    /// Exponential backoff with full jitter for the given (1-based) attempt.
    public func backoff(attempt: Int) -> Duration {
        let ceiling = min(maxBackoff, initialBackoff * (1 << min(attempt - 1, 20)))
        let nanos = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: 0...max(0, nanos)))
    }
}

/// A request to send: absolute `http://` URL, headers, body and optional per-call timeout and retry.
public struct ClientRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var timeout: Duration?
    public var retry: RetryPolicy?
    /// Whether the destination's circuit breaker guards this call (and learns from it). A background
    /// poller with its own backoff (a feed consumer) passes by it, so that its failures while a peer starts
    /// do not shut the peer off from the requests people make.
    public var guardedByBreaker = true

    public init(
        method: String = "GET",
        url: String,
        headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [],
        timeout: Duration? = nil,
        retry: RetryPolicy? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.retry = retry
    }

    /// A request with a JSON body.
    public static func json(
        _ method: String,
        _ url: String,
        _ value: some Encodable,
        headers: HTTPHeaders = HTTPHeaders()
    ) throws -> ClientRequest {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        return ClientRequest(method: method, url: url, headers: headers, body: try JSON.encode(value))
    }
}

/// Settings of an `HTTPClient`.
public struct HTTPClientConfiguration: Sendable {
    public var connectTimeout: Duration
    /// Whole-call limit when the request sets none; the caller's deadline shortens it.
    public var requestTimeout: Duration
    public var limits: HTTPParserLimits
    /// Idle connections kept per host.
    public var maxIdlePerHost: Int
    /// Idle connections older than this are closed instead of reused.
    public var idleTimeout: Duration
    /// The circuit breaker each destination (host and port) gets.
    public var breaker: CircuitBreaker.Policy

    public init(
        connectTimeout: Duration = .seconds(2),
        requestTimeout: Duration = .seconds(10),
        limits: HTTPParserLimits = HTTPParserLimits(maxBodyBytes: 8 << 20),
        maxIdlePerHost: Int = 64,
        idleTimeout: Duration = .seconds(30),
        breaker: CircuitBreaker.Policy = CircuitBreaker.Policy()
    ) {
        self.breaker = breaker
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.limits = limits
        self.maxIdlePerHost = maxIdlePerHost
        self.idleTimeout = idleTimeout
    }
}

/// An HTTP/1.1 client on the same parser as the server, with a keep-alive pool per host.
///
/// Each call is bounded by its timeout and by the deadline of the request being served
/// (`RequestContext.current`), whose id, `traceparent` and time left it forwards. A reused connection
/// that the server had already closed is replaced transparently (nothing was received on it).
public final class HTTPClient: Sendable {
    public let configuration: HTTPClientConfiguration
    private let group: EventLoopGroup
    private let idle = Mutex<[String: [IdleConnection]]>([:])
    private let peers = Mutex<[String: Peer]>([:])

    /// What the client knows of one destination: its breaker, and counters for `/metrics`.
    private struct Peer {
        var breaker: CircuitBreaker
        var connects = 0
        var rejected = 0
    }

    /// One destination as `/metrics` shows it.
    public struct PeerStatus: Sendable {
        public let peer: String
        public let state: CircuitBreaker.State
        /// Connections opened to it so far.
        public let connects: Int
        /// Calls failed at once by its open breaker so far.
        public let rejected: Int
    }

    /// Every destination called so far, by `host:port`.
    public func peerStatuses() -> [PeerStatus] {
        peers.withLock { peers in
            peers.map { PeerStatus(peer: $0.key, state: $0.value.breaker.state, connects: $0.value.connects, rejected: $0.value.rejected) }
                .sorted { $0.peer < $1.peer }
        }
    }

    private func withPeer<T>(_ key: String, _ body: (inout Peer) -> T) -> T {
        peers.withLock { peers in
            body(&peers[key, default: Peer(breaker: CircuitBreaker(policy: configuration.breaker))])
        }
    }

    private struct IdleConnection: Sendable {
        let fd: Int32
        let since: ContinuousClock.Instant
    }

    public init(configuration: HTTPClientConfiguration = HTTPClientConfiguration(), group: EventLoopGroup = .shared) {
        self.configuration = configuration
        self.group = group
    }

    deinit {
        for connections in idle.withLock({ $0.values }) {
            for connection in connections { Glibc.close(connection.fd) }
        }
    }

    /// Idle pooled connections, for tests and metrics.
    public var idleConnectionCount: Int { idle.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    public func get(_ url: String, headers: HTTPHeaders = HTTPHeaders()) async throws -> Response {
        try await execute(ClientRequest(method: "GET", url: url, headers: headers))
    }

    /// Sends the request, retrying as its policy allows, and returns the whole response.
    public func execute(_ request: ClientRequest) async throws -> Response {
        let context = RequestContext.current
        var deadline = ContinuousClock.now + (request.timeout ?? configuration.requestTimeout)
        if let outer = context?.deadline, outer < deadline { deadline = outer }
        let target = try Target(request.url)
        var attempt = 1
        while true {
            do {
                let response = try await send(request, to: target, context: context, deadline: deadline)
                // One draw of the jittered pause: the one checked against the deadline is the one slept.
                let pause = request.retry?.backoff(attempt: attempt) ?? .zero
                if let retry = request.retry, retry.retryServerErrors, [502, 503, 504].contains(response.status.code),
                    attempt < retry.maxAttempts, ContinuousClock.now + pause < deadline
                {
                    try await Task.sleep(for: pause)
                    attempt += 1
                    continue
                }
                return response
            } catch let error as HTTPClientError {
                guard let retry = request.retry, attempt < retry.maxAttempts, error.kind != .responseTooLarge, error.kind != .circuitOpen,
                    error.kind != .invalidURL, ContinuousClock.now < deadline
                else { throw error }
                try await Task.sleep(for: retry.backoff(attempt: attempt))
                attempt += 1
            }
        }
    }

    private func send(
        _ request: ClientRequest,
        to target: Target,
        context: RequestContext?,
        deadline: ContinuousClock.Instant
    ) async throws
        -> Response
    {
        guard ContinuousClock.now < deadline else { throw HTTPClientError(.timeout, "deadline passed before sending") }
        guard request.guardedByBreaker else { return try await attempt(request, to: target, context: context, deadline: deadline) }
        let gate = withPeer(target.key) { peer -> (allowed: Bool, retryAfter: Duration) in
            let gate = peer.breaker.allow(now: .now)
            if !gate.allowed { peer.rejected += 1 }
            return gate
        }
        guard gate.allowed else {
            throw HTTPClientError(.circuitOpen, "circuit open for \(target.key)", retryAfter: gate.retryAfter)
        }
        do {
            let response = try await attempt(request, to: target, context: context, deadline: deadline)
            // A gateway's 502 or 504 says the peer behind it is gone; a 503 comes from a live service that
            // cannot do this one thing now (a fenced bucket, its database restarting) and says so at once.
            let failed = response.status.code == 502 || response.status.code == 504
            withPeer(target.key) { $0.breaker.record(failed: failed, now: .now) }
            return response
        } catch let error as HTTPClientError {
            // A refused or reset connection, or a connect that timed out, says the destination is gone. An
            // answer that is late is not counted: a slow peer is the step deadline's business, and counting
            // it opened breakers on a merely loaded peer and turned its slowness into compensations.
            let failed = ![.responseTooLarge, .invalidURL, .timeout].contains(error.kind)
            withPeer(target.key) { $0.breaker.record(failed: failed, now: .now) }
            throw error
        } catch {
            // Cancelled: says nothing about the destination (a probe in flight is given back).
            withPeer(target.key) { $0.breaker.abandon() }
            throw error
        }
    }

    private func attempt(
        _ request: ClientRequest,
        to target: Target,
        context: RequestContext?,
        deadline: ContinuousClock.Instant
    ) async throws -> Response {
        switch await Faults.shared.visit("client.before_send", "\(request.method) \(request.url)") {
        case .fail(let status)?: return Faults.Injected(outcome: .fail(status: status), point: "client.before_send").response
        case .reset?: throw HTTPClientError(.connectFailed, "injected reset before sending")
        case nil: break
        }
        let bytes = serialize(request, target: target, context: context, deadline: deadline)
        let loop = group.next()
        if let fd = takeIdle(target.key) {
            do {
                return try await exchange(fd: fd, bytes: bytes, request: request, target: target, loop: loop, deadline: deadline)
            } catch let error as HTTPClientError where error.kind == .connectionClosed {
                // The server closed the pooled connection before reading this request: use a new one.
            }
        }
        let fd = try await connect(target, loop: loop, deadline: deadline)
        return try await exchange(fd: fd, bytes: bytes, request: request, target: target, loop: loop, deadline: deadline)
    }

    private func serialize(_ request: ClientRequest, target: Target, context: RequestContext?, deadline: ContinuousClock.Instant) -> [UInt8]
    {
        var out: [UInt8] = []
        out.reserveCapacity(256 + request.body.count)
        // Bytes appended as they are, no interpolated strings (one per header line before).
        func line(_ name: String, _ value: String) {
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: request.method.utf8)
        out.append(0x20)
        out.append(contentsOf: target.path.utf8)
        out.append(contentsOf: " HTTP/1.1\r\n".utf8)
        line("Host", target.hostHeader)
        let headers = request.headers
        for field in headers.fields
        where !field.name.asciiCaseInsensitiveEquals("Content-Length") && !field.name.asciiCaseInsensitiveEquals("Host")
            && !field.name.asciiCaseInsensitiveEquals("X-Deadline-Ms")
        {
            guard !field.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) else { continue }
            line(field.name, field.value)
        }
        if let context {
            if headers["X-Request-ID"] == nil { line("X-Request-ID", context.requestID) }
            if headers["traceparent"] == nil, let traceparent = context.traceparent { line("traceparent", traceparent) }
        }
        let left = deadline - ContinuousClock.now
        out.append(contentsOf: "X-Deadline-Ms: ".utf8)
        ResponseWriter.appendDecimal(
            Int(max(1, left.wholeMilliseconds())),
            to: &out
        )
        out.append(contentsOf: "\r\n".utf8)
        let sendsLength: Bool
        switch request.method {
        case "POST", "PUT", "PATCH": sendsLength = true
        default: sendsLength = !request.body.isEmpty
        }
        if sendsLength {
            out.append(contentsOf: "Content-Length: ".utf8)
            ResponseWriter.appendDecimal(request.body.count, to: &out)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        out.append(contentsOf: request.body)
        return out
    }

    private func connect(_ target: Target, loop: EventLoop, deadline: ContinuousClock.Instant) async throws -> Int32 {
        withPeer(target.key) { $0.connects += 1 }
        let address: sockaddr_storage
        let started: (fd: Int32, connected: Bool)
        do {
            address = try Socket.resolve(host: target.host, port: target.port)
            started = try Socket.startConnect(to: address)
        } catch {
            throw HTTPClientError(.connectFailed, "\(target.key): \(error)")
        }
        if !started.connected {
            let connectDeadline = min(deadline, ContinuousClock.now + configuration.connectTimeout)
            do {
                try await loop.waitForIO(fd: started.fd, write: true, deadline: connectDeadline)
            } catch {
                Glibc.close(started.fd)
                throw HTTPClientError(.connectFailed, "\(target.key): connect timed out")
            }
            let pending = Socket.pendingError(started.fd)
            if pending != 0 {
                Glibc.close(started.fd)
                throw HTTPClientError(.connectFailed, "\(target.key): \(String(cString: strerror(pending)))")
            }
        }
        return started.fd
    }

    /// Writes the request and reads the response on `fd`; returns the connection to the pool when it may be reused.
    private func exchange(
        fd: Int32,
        bytes: [UInt8],
        request: ClientRequest,
        target: Target,
        loop: EventLoop,
        deadline: ContinuousClock.Instant
    ) async throws
        -> Response
    {
        var keep = false
        defer { if !keep { Glibc.close(fd) } }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                try await loop.waitForIO(fd: fd, write: true, deadline: deadline)
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                throw HTTPClientError(.connectionClosed, "write failed")
            }
        }
        // Sent: an injected fault here loses the answer of a request that may have applied.
        switch await Faults.shared.visit("client.after_send", "\(request.method) \(request.url)") {
        case .fail(let status)?: return Faults.Injected(outcome: .fail(status: status), point: "client.after_send").response
        case .reset?: throw HTTPClientError(.connectionReset, "injected reset after sending")
        case nil: break
        }
        let method = request.method
        var reader = ResponseReader(method: method, limits: configuration.limits)
        // Uninitialized: recv fills what it returns (zeroing 16 KiB per exchange showed as memset).
        var scratch = [UInt8](unsafeUninitializedCapacity: 16384) { _, count in count = 16384 }
        // The answer cannot be there yet: wait before the first read (a read now was an EAGAIN every call).
        var readable = false
        while true {
            if let response = try reader.next() {
                if reader.reusable {
                    keep = true
                    putIdle(fd, key: target.key)
                }
                return response
            }
            if !readable {
                try await loop.waitForIO(fd: fd, write: false, deadline: deadline)
                readable = true
            }
            let count = scratch.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                scratch.withUnsafeBytes { reader.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            } else if count == 0 || (count < 0 && errno == ECONNRESET) {
                return try reader.finish()
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                readable = false
            } else if errno != EINTR {
                throw HTTPClientError(.connectionClosed, "read failed")
            }
        }
    }

    private func takeIdle(_ key: String) -> Int32? {
        let now = ContinuousClock.now
        while true {
            guard let connection = idle.withLock({ $0[key]?.popLast() }) else { return nil }
            // A connection the server closed while idle shows as readable with end of file (or stray bytes).
            var probe: UInt8 = 0
            let peeked = recv(connection.fd, &probe, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            if now - connection.since < configuration.idleTimeout && peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return connection.fd
            }
            Glibc.close(connection.fd)
        }
    }

    private func putIdle(_ fd: Int32, key: String) {
        let kept = idle.withLock { pool -> Bool in
            var list = pool[key, default: []]
            guard list.count < configuration.maxIdlePerHost else { return false }
            list.append(IdleConnection(fd: fd, since: .now))
            pool[key] = list
            return true
        }
        if !kept { Glibc.close(fd) }
    }
}

/// Host, port and path of an `http://` URL.
struct Target: Sendable {
    let host: String
    let port: Int
    let path: String

    init(_ url: String) throws {
        guard url.hasPrefix("http://") else { throw HTTPClientError(.invalidURL, "only http:// URLs are supported") }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        path = slash == rest.endIndex ? "/" : String(rest[slash...])
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            port = after.hasPrefix(":") ? Int(after.dropFirst()) ?? -1 : 80
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = Int(authority[authority.index(after: colon)...]) ?? -1
        } else {
            host = String(authority)
            port = 80
        }
        // Bytes, not `contains(" ")`: that is Foundation's substring search (`range(of:)`), 1.5 % of the saga.
        guard !host.isEmpty, (1...65535).contains(port), !path.utf8.contains(UInt8(ascii: " ")) else {
            throw HTTPClientError(.invalidURL, "malformed URL")
        }
    }

    var key: String { "\(host):\(port)" }
    var hostHeader: String { host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Turns the bytes of one response into a `Response`, skipping interim (1xx) answers.
struct ResponseReader {
    private var parser: HTTPParser
    private var buffer = ByteBuffer(capacity: 4096)
    private var head: ResponseHead?
    private var received = 0
    /// Whether the connection may carry another request after this response.
    private(set) var reusable = false

    init(method: String, limits: HTTPParserLimits) {
        parser = HTTPParser(mode: .response(requestMethod: method), limits: limits)
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        received += bytes.count
        buffer.append(bytes)
    }

    /// The response once complete, or nil while more bytes are needed.
    mutating func next() throws(HTTPClientError) -> Response? {
        while true {
            let event: HTTPParserEvent?
            do {
                event = try parser.next(&buffer)
            } catch {
                throw Self.clientError(error)
            }
            switch event {
            case nil:
                return nil
            case .responseHead(let responseHead):
                if responseHead.status.code >= 200 { head = responseHead }
            case .end(let body, _):
                guard let head else { throw HTTPClientError(.invalidResponse, "body without head") }
                reusable = buffer.readableCount == 0 && head.version == .http1_1 && !head.headers.tokens("Connection").contains("close")
                return Response(status: head.status, headers: head.headers, body: body)
            case .requestHead:
                throw HTTPClientError(.invalidResponse, "unexpected request")
            }
        }
    }

    /// The peer closed the connection: completes a close-delimited body or reports what went wrong.
    mutating func finish() throws(HTTPClientError) -> Response {
        if received == 0 { throw HTTPClientError(.connectionClosed, "connection closed before a response") }
        let event: HTTPParserEvent?
        do {
            event = try parser.finish(&buffer)
        } catch {
            throw Self.clientError(error)
        }
        guard case .end(let body, _)? = event, let head else {
            throw HTTPClientError(.invalidResponse, "connection closed in the middle of the response")
        }
        return Response(status: head.status, headers: head.headers, body: body)
    }

    private static func clientError(_ error: HTTPParseError) -> HTTPClientError {
        if error.kind == .contentTooLarge { return HTTPClientError(.responseTooLarge, "response exceeds the limit") }
        if error.kind == .truncated { return HTTPClientError(.invalidResponse, "connection closed in the middle of the response") }
        return HTTPClientError(.invalidResponse, error.reason)
    }
}
