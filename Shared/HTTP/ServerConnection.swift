import CSystem
import Glibc

/// One accepted connection, confined to the event loop that accepted it.
///
/// States follow the life of a request: `reading` a head and body, `handling` while the responder runs,
/// `writing` while a response is partly sent, `draining` after an error response (the write side is shut
/// and unread input discarded for a moment so the client sees the response rather than a reset).
/// Requests pipelined behind the current one wait in the buffer and are answered in order.
final class ServerConnection: EventLoopHandler, @unchecked Sendable {
    enum State {
        case reading
        case handling
        case writing
        case draining
        case closed
    }

    private enum Deadline {
        case header
        case body
        case idle
        case write
        case drain
    }

    let fd: Int32
    let loop: EventLoop
    let server: HTTPServer
    /// The peer's numeric address.
    let peer: String
    /// Bytes of the server's body budget this connection holds for the request being read or handled.
    private var reservedBody = 0
    private(set) var state = State.reading
    private var buffer = ByteBuffer(capacity: 4096)
    private var parser: HTTPParser
    private var head: RequestHead?
    private var deadline: ContinuousClock.Instant
    private var deadlineKind = Deadline.header
    private var readEOF = false
    private var closeAfterWrite = false
    private var pendingWrite: [UInt8] = []
    private var writeOffset = 0
    private var interest: UInt32 = 0
    private var served = 0
    /// Loop-confined: the handler task exists; it is waiting for a request; a request parsed before it waited.
    private var handlerRunning = false
    private var waitingHandler: UnsafeContinuation<Request?, Never>?
    private var pendingRequest: Request?
    private static let maxBuffered = 64 * 1024

    init(fd: Int32, loop: EventLoop, server: HTTPServer, peer: String) {
        self.fd = fd
        self.loop = loop
        self.server = server
        self.peer = peer
        parser = HTTPParser(mode: .request, limits: server.configuration.limits)
        deadline = .now + server.configuration.headerReadTimeout
    }

    func start() {
        interest = EPOLLIN.rawValue
        if !loop.register(fd: fd, events: interest, handler: self) {
            // Never watched, so never read nor timed out: close it rather than leave the peer waiting.
            state = .closed
            server.connectionClosed(peer: peer)
            Glibc.close(fd)
        }
    }

    /// Whether nothing of a request is under way, so shutting down can close this connection at once.
    var isIdle: Bool { state == .reading && parser.isIdle && buffer.readableCount == 0 }

    /// Graceful shutdown: close now if idle, else after the response in progress.
    func beginShutdown() {
        closeAfterWrite = true
        if isIdle { close() }
    }

    func handleEvents(_ events: UInt32) {
        if events & EPOLLOUT.rawValue != 0 {
            flush()
        }
        if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 && state != .closed {
            readAvailable()
            if state == .reading { process() }
        }
    }

    func checkDeadline(now: ContinuousClock.Instant) {
        guard now >= deadline, state != .closed, state != .handling else { return }
        switch deadlineKind {
        case .header where parser.isIdle && buffer.readableCount == 0, .idle, .write, .drain:
            close()
        case .header, .body:
            if state == .reading {
                fail(status: .requestTimeout, reason: "request not received in time")
            }
        }
    }

    // MARK: Reading

    private func readAvailable() {
        let scratch = loop.readScratch
        while true {
            let count = Glibc.read(fd, scratch.baseAddress, scratch.count)
            if count > 0 {
                if state != .draining {
                    buffer.append(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
                }
                if count < scratch.count { break }
                if state == .handling || state == .writing, buffer.readableCount > Self.maxBuffered {
                    // Pipelined input beyond a bound waits in the kernel until the current request is answered.
                    setInterest(interest & ~EPOLLIN.rawValue)
                    break
                }
            } else if count == 0 {
                readEOF = true
                setInterest(interest & ~EPOLLIN.rawValue)
                if state == .draining || (state == .reading && parser.isIdle && buffer.readableCount == 0) {
                    close()
                }
                break
            } else {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { close() }
                break
            }
        }
    }

    /// Parses what is buffered and starts the handler when a request is complete.
    private func process() {
        while state == .reading {
            let event: HTTPParserEvent?
            do {
                event = try parser.next(&buffer)
            } catch {
                fail(status: error.status, reason: error.reason)
                return
            }
            switch event {
            case .requestHead(let requestHead):
                head = requestHead
                deadline = .now + server.configuration.bodyReadTimeout
                deadlineKind = .body
                guard admitBody(of: requestHead) else { return }
                if let expectation = requestHead.headers["Expect"] {
                    guard expectation.lowercased() == "100-continue" else {
                        fail(status: .expectationFailed, reason: "unsupported expectation")
                        return
                    }
                    if requestHead.version == .http1_1 && buffer.readableCount == 0 && Self.hasBody(requestHead) {
                        // RFC 9110 section 10.1.1: tell the client to send the body it is holding back.
                        writeNow(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                    }
                }
            case .end(let body, let trailers):
                guard let requestHead = head else { return }
                head = nil
                var request = Request(head: requestHead, body: body, trailers: trailers)
                request.remoteAddress = peer
                request.drain = server.drain
                dispatch(request)
                return
            case .responseHead:
                return
            case nil:
                if buffer.readableCount > 0 && deadlineKind == .idle {
                    deadline = .now + server.configuration.headerReadTimeout
                    deadlineKind = .header
                }
                if readEOF {
                    // The client half-closed: nothing more can complete a partial request.
                    close()
                }
                buffer.discardReadBytes()
                return
            }
        }
    }

    /// Applies the server's head filter and body budget before any of the body is read. Returns false
    /// when the request was answered (and the connection is closing).
    private func admitBody(of requestHead: RequestHead) -> Bool {
        var limit = server.configuration.limits.maxBodyBytes
        if let filter = server.headFilter {
            switch filter(requestHead, peer) {
            case .refuse(let response):
                refuse(response)
                return false
            case .proceed(let bodyLimit):
                if let bodyLimit { limit = min(limit, bodyLimit) }
            }
        }
        let chunked = requestHead.headers["Transfer-Encoding"] != nil
        let declared = requestHead.headers["Content-Length"].flatMap { Int($0[...].trimmingOWS()) } ?? 0
        if declared > limit {
            fail(status: .contentTooLarge, reason: "body exceeds the limit of this resource")
            return false
        }
        if chunked { parser.limitBody(to: limit) }
        let wanted = chunked ? limit : declared
        if wanted > 0 {
            guard server.reserveBody(wanted) else {
                refuse(
                    HTTPError(
                        .serviceUnavailable,
                        code: "server_busy",
                        detail: "The server is holding as many request bodies as it can; retry shortly.",
                        headers: HTTPHeaders([("Retry-After", "1")])
                    ).response
                )
                return false
            }
            reservedBody = wanted
        }
        return true
    }

    private func releaseBody() {
        if reservedBody > 0 {
            server.releaseBody(reservedBody)
            reservedBody = 0
        }
    }

    private static func hasBody(_ head: RequestHead) -> Bool {
        if head.headers["Transfer-Encoding"] != nil { return true }
        if let length = head.headers["Content-Length"], length != "0" { return true }
        return false
    }

    /// Hands a complete request to the connection's handler task, starting it for the first request.
    ///
    /// One task serves the connection's requests one after another (HTTP/1.1 answers in order anyway): it
    /// waits between requests rather than ending, so a keep-alive connection does not create and destroy a
    /// task, and allocate its frames again, for every request.
    private func dispatch(_ request: Request) {
        state = .handling
        if let waiting = waitingHandler {
            waitingHandler = nil
            waiting.resume(returning: request)
        } else if handlerRunning {
            // The handler task is between `finish` and its next wait (a pipelined request parsed in `finish`).
            pendingRequest = request
        } else {
            handlerRunning = true
            let server = self.server
            Task(executorPreference: loop) {
                var next: Request? = request
                while let request = next {
                    let response = await server.respond(to: request)
                    self.finish(request: request.head, response: response, keepAlive: request.head.keepAlive)
                    next = await self.nextRequest()
                }
            }
        }
    }

    /// The handler task's next request: one already parsed, or the next `dispatch`, or nil once closed.
    private func nextRequest() async -> Request? {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Request?, Never>) in
            if loop.inEventLoop {
                awaitRequest(continuation)
            } else {
                loop.execute { self.awaitRequest(continuation) }
            }
        }
    }

    private func awaitRequest(_ continuation: UnsafeContinuation<Request?, Never>) {
        if let request = pendingRequest {
            pendingRequest = nil
            continuation.resume(returning: request)
        } else if state == .closed {
            handlerRunning = false
            continuation.resume(returning: nil)
        } else {
            waitingHandler = continuation
        }
    }

    private func finish(request: RequestHead, response: Response, keepAlive: Bool) {
        guard loop.inEventLoop else {
            loop.execute { self.finish(request: request, response: response, keepAlive: keepAlive) }
            return
        }
        guard state == .handling else { return }
        if response.abort {
            // An injected reset: the peer sees the connection torn down with no answer.
            var linger = linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
            close()
            return
        }
        releaseBody()
        served += 1
        let close = !keepAlive || closeAfterWrite || readEOF
        closeAfterWrite = close
        // Serialized into this connection's write buffer, kept between responses (one allocation fewer each).
        ResponseWriter.serialize(
            response,
            version: request.version,
            headRequest: request.method == "HEAD",
            close: close,
            date: loop.httpDate(),
            into: &pendingWrite
        )
        state = .writing
        startWrite()
    }

    // MARK: Writing

    /// Answers a malformed or timed-out request with a problem document and closes the connection.
    private func fail(status: HTTPStatus, reason: String) {
        let code: String
        switch status.code {
        case 408: code = "request_timeout"
        case 413: code = "content_too_large"
        case 414: code = "uri_too_long"
        case 431: code = "headers_too_large"
        case 505: code = "http_version_not_supported"
        case 501: code = "not_implemented"
        case 417: code = "expectation_failed"
        default: code = "bad_request"
        }
        refuse(HTTPError(status, code: code, detail: reason).response)
    }

    /// Answers with `response` without reading further, and closes the connection after it.
    private func refuse(_ response: Response) {
        releaseBody()
        closeAfterWrite = true
        state = .writing
        ResponseWriter.serialize(response, version: .http1_1, headRequest: false, close: true, date: loop.httpDate(), into: &pendingWrite)
        startWrite()
    }

    private func writeNow(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }

    /// Sends `pendingWrite` from its start.
    private func startWrite() {
        writeOffset = 0
        deadline = .now + server.configuration.writeTimeout
        deadlineKind = .write
        flush()
    }

    private func flush() {
        guard state == .writing else { return }
        while writeOffset < pendingWrite.count {
            let written = pendingWrite.withUnsafeBytes { raw in
                Glibc.write(fd, raw.baseAddress! + writeOffset, raw.count - writeOffset)
            }
            if written > 0 {
                writeOffset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                setInterest(interest | EPOLLOUT.rawValue)
                return
            } else {
                close()
                return
            }
        }
        // A small buffer stays for the next response; a large one is given back (idle connections stay cheap).
        pendingWrite.removeAll(keepingCapacity: pendingWrite.capacity <= 4096)
        setInterest(interest & ~EPOLLOUT.rawValue)
        writeCompleted()
    }

    private func writeCompleted() {
        if closeAfterWrite {
            if buffer.readableCount > 0 || !readEOF {
                // Shut the write side and discard input briefly, so unread bytes do not turn into a reset
                // that destroys the response before the client reads it.
                shutdown(fd, Int32(SHUT_WR))
                state = .draining
                buffer = ByteBuffer()
                deadline = .now + .seconds(1)
                deadlineKind = .drain
                if !readEOF { setInterest(interest | EPOLLIN.rawValue) } else { close() }
            } else {
                close()
            }
            return
        }
        state = .reading
        deadline = .now + server.configuration.keepAliveTimeout
        deadlineKind = .idle
        if !readEOF { setInterest(interest | EPOLLIN.rawValue) }
        process()
    }

    private func setInterest(_ events: UInt32) {
        guard events != interest, state != .closed else { return }
        interest = events
        loop.modify(fd: fd, events: events)
    }

    func close() {
        guard state != .closed else { return }
        state = .closed
        loop.deregister(fd: fd)
        releaseBody()
        // Counted before the close, so a peer that sees end of stream also sees the count drop.
        server.connectionClosed(peer: peer)
        Glibc.close(fd)
        pendingRequest = nil
        if let waiting = waitingHandler {
            // The handler task ends with the connection.
            waitingHandler = nil
            handlerRunning = false
            waiting.resume(returning: nil)
        }
    }
}

/// Serialises a response into one buffer so it goes out with one `write(2)`.
enum ResponseWriter {
    static func serialize(_ response: Response, version: HTTPVersion, headRequest: Bool, close: Bool, date: String) -> [UInt8] {
        var out: [UInt8] = []
        serialize(response, version: version, headRequest: headRequest, close: close, date: date, into: &out)
        return out
    }

    /// Replaces the contents of `out` with the response's bytes, reusing its storage.
    static func serialize(
        _ response: Response,
        version: HTTPVersion,
        headRequest: Bool,
        close: Bool,
        date: String,
        into out: inout [UInt8]
    ) {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(160 + response.body.count)
        let status = response.status
        // Bytes appended as they are: no interpolated strings (they were a third of this function's time).
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(status.code, to: &out)
        out.append(0x20)
        out.append(contentsOf: status.reason.utf8)
        out.append(contentsOf: "\r\n".utf8)
        for field in response.headers.fields {
            // Framing is the server's: handlers cannot set it, and a CR or LF cannot split a header.
            let initial = (field.name.utf8.first ?? 0) | 0x20
            if initial == 0x63 || initial == 0x74,
                field.name.asciiCaseInsensitiveEquals("Content-Length") || field.name.asciiCaseInsensitiveEquals("Connection")
                    || field.name.asciiCaseInsensitiveEquals("Transfer-Encoding")
            {
                continue
            }
            guard !field.name.utf8.contains(where: { $0 < 0x21 || $0 == 0x3A }),
                !field.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 })
            else { continue }
            out.append(contentsOf: field.name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: field.value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        let bodyAllowed = status.code >= 200 && status.code != 204 && status.code != 304
        if bodyAllowed {
            out.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(response.body.count, to: &out)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "Date: ".utf8)
        out.append(contentsOf: date.utf8)
        out.append(contentsOf: "\r\n".utf8)
        if close {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if version == .http1_0 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        if bodyAllowed && !headRequest {
            out.append(contentsOf: response.body)
        }
    }

    /// A non-negative integer's decimal digits.
    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        precondition(value >= 0)
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for the 20 digits of any Int
        withUnsafeMutableBytes(of: &digits) { buffer in
            var remaining = value
            var index = buffer.count
            repeat {
                index -= 1
                buffer[index] = UInt8(0x30 + remaining % 10)
                remaining /= 10
            } while remaining > 0
            out.append(contentsOf: buffer[index...])
        }
    }
}
