import Foundation
import HTTP

/// Sockets here are close-on-exec: a PostgreSQL server or service a parallel test spawns must not
/// inherit them, or closing them here would not close the connection.
///
/// A blocking TCP client that sends exact bytes and reads what comes back, for tests that must control
/// the wire (pipelining, malformed requests, slow clients). Every read has a timeout.
public final class RawConnection: @unchecked Sendable {
    public let fd: Int32
    private var buffer = ByteBuffer()

    public init(port: Int, host: String = "127.0.0.1", timeout: Duration = .seconds(30)) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = UInt16(port).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            // Closed here, before `self.fd` is set, so deinit cannot close the number a second time
            // (by then it may belong to another test's socket).
            let error = SocketError("connect")
            close(fd)
            throw error
        }
        self.fd = fd
        setTimeout(timeout)
    }

    deinit { close(fd) }

    public func setTimeout(_ timeout: Duration) {
        var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    public func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw SocketError("send") }
            offset += n
        }
    }

    /// Reads more bytes; returns false at end of stream. Throws on timeout or error.
    @discardableResult
    public func readMore() throws -> Bool {
        var scratch = [UInt8](repeating: 0, count: 65536)
        let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            buffer.append(contentsOf: scratch[0..<n])
            return true
        }
        if n == 0 || errno == ECONNRESET { return false }
        throw SocketError("recv")
    }

    /// Reads one complete response (skipping none: interim responses are returned too).
    public func readResponse(method: String = "GET") throws -> (head: ResponseHead, body: [UInt8]) {
        var parser = HTTPParser(mode: .response(requestMethod: method))
        var head: ResponseHead?
        while true {
            while let event = try parser.next(&buffer) {
                switch event {
                case .responseHead(let h):
                    if h.status.code < 200 { return (h, []) }
                    head = h
                case .end(let body, _):
                    return (head!, body)
                case .requestHead:
                    break
                }
            }
            guard try readMore() else {
                if case .end(let body, _)? = try parser.finish(&buffer), let head { return (head, body) }
                throw SocketError("connection closed before a complete response", errno: ECONNRESET)
            }
        }
    }

    /// Whether the server closed the connection: reads until end of stream, failing if data or a timeout comes first.
    public func isClosedByPeer() -> Bool {
        do {
            while try readMore() {
                if buffer.readableCount > 0 { return false }
            }
            return true
        } catch {
            return false
        }
    }

    /// Bytes received and not yet consumed as a response.
    public var unread: String { String(decoding: buffer.readableBytes, as: UTF8.self) }
}

/// A TCP server that answers every request on a connection with the same canned bytes, then closes the
/// connection if told to. For testing the client against framings our own server never sends.
public final class CannedServer: @unchecked Sendable {
    public let port: Int
    private let listener: Int32
    private let response: [UInt8]
    private let closeAfter: Bool

    public init(response: String, closeAfter: Bool) throws {
        self.response = Array(response.utf8)
        self.closeAfter = closeAfter
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(listener, 16)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in self.serve() }
        thread.start()
    }

    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            // Close-on-exec, so a server a parallel test spawns does not inherit the socket and keep it open.
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            Thread { [self] in self.handle(client) }.start()
        }
    }

    private func handle(_ client: Int32) {
        defer { close(client) }
        var received: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = scratch.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return }
            received += scratch[0..<n]
            while let end = findHeaderEnd(received) {
                received.removeFirst(end)
                _ = response.withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if closeAfter { return }
            }
        }
    }

    private func findHeaderEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }
}
