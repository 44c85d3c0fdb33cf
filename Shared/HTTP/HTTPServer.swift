import CSystem
import Glibc
import Logging
import Synchronization

/// The one seam between the server and application code: a request in, a response out.
/// A thrown `HTTPError` becomes its problem document; any other error a generic 500.
public typealias HTTPResponder = @Sendable (Request) async throws -> Response

/// Whether the server that read a request has begun to shut down: a handler that holds a request open
/// (a feed's long poll) answers at once instead of keeping the shutdown waiting for its grace period.
public final class DrainSignal: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { flag.load(ordering: .relaxed) }

    public func begin() { flag.store(true, ordering: .relaxed) }

    /// For requests no server read (tests, in-process calls).
    public static let never = DrainSignal()
}

/// An HTTP/1.1 server on non-blocking sockets and the event loops of an `EventLoopGroup`.
///
/// One listening socket is registered with every loop (`EPOLLEXCLUSIVE`, so one loop wakes per
/// connection); the loop that accepts a connection serves it for its whole life. `shutdown(gracePeriod:)`
/// stops accepting, closes idle connections, lets requests in flight finish until the grace period
/// ends, and then closes what is left.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    public let group: EventLoopGroup
    let logger: Logger
    private let responder: HTTPResponder
    /// Runs on each request head before its body is read (authentication, per-route body limits).
    let headFilter: HeadFilter?
    private let connections = Atomic<Int>(0)
    /// Raised when a shutdown begins; every request this server reads carries it.
    let drain = DrainSignal()
    private let bufferedBody = Atomic<Int>(0)
    private let perClient = Mutex<[String: Int]>([:])
    private let acceptPauses = Atomic<Int>(0)
    private let accepted = Atomic<Int>(0)
    private let state = Mutex(ServerState())

    private struct ServerState {
        var listenerFD: Int32 = -1
        var port = 0
        var started = false
        var listening = false
        var stopped = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    public init(
        configuration: HTTPServerConfiguration,
        group: EventLoopGroup = .shared,
        logger: Logger = Logger(label: "http"),
        headFilter: HeadFilter? = nil,
        responder: @escaping HTTPResponder
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.headFilter = headFilter
        self.responder = responder
    }

    /// The bound port (useful with port 0), valid after `start()`.
    public var port: Int { state.withLock { $0.port } }

    /// Whether the listening socket is open (false once a shutdown has stopped accepting).
    public var isListening: Bool { state.withLock { $0.listening } }

    /// Connections accepted since the server started (including those refused at the limit).
    public var acceptedConnectionCount: Int { accepted.load(ordering: .relaxed) }

    /// Connections open right now.
    public var connectionCount: Int { connections.load(ordering: .relaxed) }

    /// Times accepting paused because the process was out of descriptors.
    public var acceptPauseCount: Int { acceptPauses.load(ordering: .relaxed) }

    /// Request body bytes reserved right now by requests being read or handled.
    public var bufferedBodyBytes: Int { bufferedBody.load(ordering: .relaxed) }

    /// Takes `bytes` from the body budget; false when that would pass `maxBufferedBodyBytes`.
    func reserveBody(_ bytes: Int) -> Bool {
        let total = bufferedBody.add(bytes, ordering: .relaxed).newValue
        if total > configuration.maxBufferedBodyBytes {
            bufferedBody.subtract(bytes, ordering: .relaxed)
            return false
        }
        return true
    }

    func releaseBody(_ bytes: Int) {
        bufferedBody.subtract(bytes, ordering: .relaxed)
    }

    func acceptPaused() {
        acceptPauses.add(1, ordering: .relaxed)
    }

    /// Binds and starts accepting. Returns the bound port.
    @discardableResult
    public func start() throws -> Int {
        Socket.raiseDescriptorLimit()
        let (fd, port) = try Socket.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        state.withLock {
            $0.listenerFD = fd
            $0.port = port
            $0.started = true
            $0.listening = true
        }
        for loop in group.loops {
            let listener = Listener(fd: fd, loop: loop, server: self)
            loop.execute { loop.register(fd: fd, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue, handler: listener) }
        }
        logger.info("http server listening", metadata: ["http.port": "\(port)"])
        return port
    }

    /// Starts if needed and returns once the server has shut down.
    public func run() async throws {
        if !state.withLock({ $0.started }) { try start() }
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.stopped { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Stops accepting, finishes requests in flight for up to `gracePeriod`, then closes every connection.
    public func shutdown(gracePeriod: Duration = .seconds(10)) async {
        let fd = state.withLock { state -> Int32 in
            let fd = state.listenerFD
            state.listenerFD = -1
            return fd
        }
        guard fd >= 0 else {
            try? await run()
            return
        }
        drain.begin()
        await forEachLoop { loop in
            loop.deregister(fd: fd)
            for case let connection as ServerConnection in loop.registeredHandlers where connection.server === self {
                connection.beginShutdown()
            }
        }
        Glibc.close(fd)
        state.withLock { $0.listening = false }
        let deadline = ContinuousClock.now + gracePeriod
        while connections.load(ordering: .acquiring) > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        await forEachLoop { loop in
            for case let connection as ServerConnection in loop.registeredHandlers where connection.server === self {
                connection.close()
            }
        }
        logger.info("http server stopped")
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.stopped = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func forEachLoop(_ body: @escaping @Sendable (EventLoop) -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            for loop in self.group.loops {
                group.addTask {
                    await withCheckedContinuation { continuation in
                        loop.execute {
                            body(loop)
                            continuation.resume()
                        }
                    }
                }
            }
        }
    }

    func respond(to request: Request) async -> Response {
        do {
            return try await responder(request)
        } catch let error as HTTPError {
            return error.response
        } catch let fault as Faults.Injected {
            return fault.response
        } catch {
            logger.error("handler failed", metadata: ["error": "\(String(reflecting: error))"])
            return HTTPError.internal.response
        }
    }

    private let nextLoopIndex = Atomic<Int>(0)

    /// The loop that serves the next accepted connection (round robin).
    func nextLoop() -> EventLoop {
        let loops = group.loops
        return loops[nextLoopIndex.add(1, ordering: .relaxed).newValue % loops.count]
    }

    /// Admits a new connection or, past `maxConnections` or the per-client cap, answers 503 and closes it.
    func admit(fd: Int32, loop: EventLoop, peer: String) {
        let count = connections.add(1, ordering: .relaxed).newValue
        accepted.add(1, ordering: .relaxed)
        let cap = configuration.maxConnectionsPerClient
        let capped = cap > 0 && !configuration.uncappedClients.contains(peer)
        let clientOver =
            capped
            && perClient.withLock { counts in
                let held = counts[peer, default: 0]
                if held >= cap { return true }
                counts[peer] = held + 1
                return false
            }
        guard count <= configuration.maxConnections, !clientOver else {
            connections.subtract(1, ordering: .relaxed)
            if capped && !clientOver { releaseClient(peer) }
            let busy = ResponseWriter.serialize(
                HTTPError(
                    .serviceUnavailable,
                    code: "too_many_connections",
                    detail: clientOver ? "Too many connections from this address." : "The server is at its connection limit.",
                    headers: HTTPHeaders([("Retry-After", "1")])
                ).response,
                version: .http1_1,
                headRequest: false,
                close: true,
                date: loop.httpDate()
            )
            _ = busy.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            Glibc.close(fd)
            return
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        ServerConnection(fd: fd, loop: loop, server: self, peer: peer).start()
    }

    func connectionClosed(peer: String) {
        if configuration.maxConnectionsPerClient > 0 && !configuration.uncappedClients.contains(peer) { releaseClient(peer) }
        connections.subtract(1, ordering: .releasing)
    }

    private func releaseClient(_ peer: String) {
        perClient.withLock { counts in
            let held = counts[peer, default: 1] - 1
            counts[peer] = held > 0 ? held : nil
        }
    }
}

/// The listening socket as one loop sees it.
private final class Listener: EventLoopHandler, @unchecked Sendable {
    let fd: Int32
    let loop: EventLoop
    let server: HTTPServer
    /// Loop-confined: while out of descriptors, when accepting resumes.
    private var pausedUntil: ContinuousClock.Instant?

    init(fd: Int32, loop: EventLoop, server: HTTPServer) {
        self.fd = fd
        self.loop = loop
        self.server = server
    }

    func handleEvents(_ events: UInt32) {
        // Accept a bounded batch, so one loop cannot starve its connections while a flood arrives.
        for _ in 0..<64 {
            var address = sockaddr_storage()
            let client = sagamart_accept4_peer(fd, Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), &address)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM {
                    // The pending connection stays queued and the listener stays readable: watching it now
                    // would spin. Stop watching for a moment; closing connections frees descriptors meanwhile.
                    pausedUntil = .now + server.configuration.acceptBackoff
                    loop.suspend(fd: fd)
                    server.acceptPaused()
                    if server.acceptPauseCount == 1 || server.acceptPauseCount % 100 == 0 {
                        server.logger.warning(
                            "out of file descriptors; accepting paused",
                            metadata: ["pauses": "\(server.acceptPauseCount)"]
                        )
                    }
                }
                return
            }
            let peer = Socket.addressText(address)
            // Spread connections evenly over the loops: whichever loop woke, the next in turn serves it.
            // One hand-off per connection, not per request; an uneven spread showed as a longer p99.
            let target = server.nextLoop()
            if target === loop {
                server.admit(fd: client, loop: loop, peer: peer)
            } else {
                let server = self.server
                target.execute { server.admit(fd: client, loop: target, peer: peer) }
            }
        }
    }

    func checkDeadline(now: ContinuousClock.Instant) {
        guard let until = pausedUntil, now >= until else { return }
        pausedUntil = nil
        loop.resume(fd: fd, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue)
    }
}
