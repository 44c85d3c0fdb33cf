import Foundation
import Synchronization
import TestSupport
import Testing

@testable import HTTP

/// Starts a server on a free port with `responder`, runs `body`, and shuts the server down.
func withServer(
    _ configuration: HTTPServerConfiguration = HTTPServerConfiguration(host: "127.0.0.1", port: 0),
    headFilter: HeadFilter? = nil,
    responder: @escaping HTTPResponder = testRouter.responder,
    _ body: (HTTPServer) async throws -> Void
) async throws {
    var configuration = configuration
    configuration.port = 0
    configuration.host = "127.0.0.1"
    let server = HTTPServer(configuration: configuration, headFilter: headFilter, responder: responder)
    try server.start()
    do {
        try await body(server)
    } catch {
        await server.shutdown(gracePeriod: .zero)
        throw error
    }
    await server.shutdown(gracePeriod: .seconds(1))
}

/// Routes the live tests use.
let testRouter: Router = {
    var router = Router()
    router.get("/hello") { _ in Response.text("hello") }
    router.post("/echo") { request in Response(status: .ok, body: request.body) }
    router.get("/items/{id}") { request in Response.text("item \(request.parameters["id"] ?? "")") }
    router.get("/headers") { request in
        try Response.json(Dictionary(request.headers.fields.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a }))
    }
    router.get("/slow") { request in
        let ms = Int(request.query["ms"] ?? "200") ?? 200
        try await Task.sleep(for: .milliseconds(ms))
        return Response.text("slow done")
    }
    router.get("/fail") { _ in throw CancellationError() }
    router.get("/teapot") { _ in throw HTTPError(HTTPStatus(code: 418, reason: "I'm a teapot"), code: "teapot", detail: "short and stout") }
    router.get("/peer") { request in Response.text(request.remoteAddress) }
    router.get("/inject") { _ in Response(status: .ok, headers: HTTPHeaders([("X-Bad", "a\r\nSet-Cookie: evil=1"), ("X-Good", "fine")])) }
    return router
}()

@Suite("HTTP server on sockets")
struct ServerTests {
    @Test func keepAliveServesManyRequestsOnOneConnection() async throws {
        try await withServer { server in
            let connection = try RawConnection(port: server.port)
            for i in 0..<5 {
                try connection.send("GET /items/\(i) HTTP/1.1\r\nHost: t\r\n\r\n")
                let response = try connection.readResponse()
                #expect(response.head.status.code == 200)
                #expect(String(decoding: response.body, as: UTF8.self) == "item \(i)")
                #expect(response.head.headers["Date"] != nil)
            }
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withServer { server in
            let connection = try RawConnection(port: server.port)
            // The slow request comes first: its answer must still come first.
            try connection.send(
                "GET /slow?ms=100 HTTP/1.1\r\nHost: t\r\n\r\nGET /items/2 HTTP/1.1\r\nHost: t\r\n\r\n"
                    + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nthreeGET /items/4 HTTP/1.1\r\nHost: t\r\n\r\n"
            )
            var bodies: [String] = []
            for _ in 0..<4 { bodies.append(String(decoding: try connection.readResponse().body, as: UTF8.self)) }
            #expect(bodies == ["slow done", "item 2", "three", "item 4"])
        }
    }

    @Test func connectionCloseIsHonoured() async throws {
        try await withServer { server in
            let connection = try RawConnection(port: server.port)
            try connection.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.head.headers["Connection"] == "close")
            #expect(connection.isClosedByPeer())
        }
    }

    @Test func http10ClosesByDefaultAndKeepsAliveWhenAsked() async throws {
        try await withServer { server in
            let plain = try RawConnection(port: server.port)
            try plain.send("GET /hello HTTP/1.0\r\n\r\n")
            #expect(try plain.readResponse().head.status.code == 200)
            #expect(plain.isClosedByPeer())

            let kept = try RawConnection(port: server.port)
            try kept.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try kept.readResponse().head.headers["Connection"] == "keep-alive")
            try kept.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try kept.readResponse().head.status.code == 200)
        }
    }

    @Test func expectContinueGetsAnInterimResponseBeforeTheBody() async throws {
        try await withServer { server in
            let connection = try RawConnection(port: server.port)
            try connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            let interim = try connection.readResponse()
            #expect(interim.head.status.code == 100)
            try connection.send("body")
            let final = try connection.readResponse(method: "POST")
            #expect(final.head.status.code == 200)
            #expect(String(decoding: final.body, as: UTF8.self) == "body")
        }
    }

    @Test func unknownExpectationIs417() async throws {
        try await withServer { server in
            let connection = try RawConnection(port: server.port)
            try connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: magic\r\n\r\nbody")
            #expect(try connection.readResponse().head.status.code == 417)
        }
    }

    @Test(
        "bad requests get their status, a problem document, and a closed connection",
        arguments: [
            ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("GET /hello HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400),
            ("GET /hello HTTP/1.1\r\n\r\n", 400),
            ("GET /hello HTTP/3.0\r\nHost: t\r\n\r\n", 505),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            ("GET /" + String(repeating: "x", count: 9000) + " HTTP/1.1\r\nHost: t\r\n\r\n", 414),
            ("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + String(repeating: "x", count: 20000) + "\r\n\r\n", 431),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n", 413),
        ]
    )
    func badRequests(_ text: String, _ status: Int) async throws {
        try await withServer { server in
            let connection = try RawConnection(port: server.port)
            // The same connection then carries a good request: it must not be answered (no leak into it).
            try connection.send(text + "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.head.status.code == status)
            #expect(response.head.headers["Content-Type"] == "application/problem+json")
            #expect(response.head.headers["Connection"] == "close")
            #expect(connection.isClosedByPeer())
            #expect(!connection.unread.contains("hello"))
        }
    }

    @Test func smugglingAttemptDoesNotReachTheHandler() async throws {
        let hits = Mutex<[String]>([])
        var router = Router()
        router.on("POST", "/a") { _ in Response.text("a") }
        router.on("GET", "/admin") { request in
            hits.withLock { $0.append(request.path) }
            return Response.text("admin")
        }
        try await withServer(responder: router.responder) { server in
            let connection = try RawConnection(port: server.port)
            try connection.send(
                "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n"
            )
            #expect(try connection.readResponse().head.status.code == 400)
            #expect(connection.isClosedByPeer())
        }
        #expect(hits.withLock { $0 }.isEmpty)
    }

    @Test func routerAnswers404And405WithAllow() async throws {
        try await withServer { server in
            let connection = try RawConnection(port: server.port)
            try connection.send("GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n")
            let missing = try connection.readResponse()
            #expect(missing.head.status.code == 404)
            #expect(String(decoding: missing.body, as: UTF8.self).contains(#""code":"not_found""#))
            try connection.send("DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            let wrongMethod = try connection.readResponse()
            #expect(wrongMethod.head.status.code == 405)
            #expect(wrongMethod.head.headers["Allow"] == "GET, HEAD")
            try connection.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            let head = try connection.readResponse(method: "HEAD")
            #expect(head.head.status.code == 200)
            #expect(head.head.headers["Content-Length"] == "5")
            #expect(head.body.isEmpty)
            // The connection survived all of that.
            try connection.send("GET /items/%7Bx%7D HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(String(decoding: try connection.readResponse().body, as: UTF8.self) == "item {x}")
        }
    }

    @Test func handlerErrorsBecomeProblemDocuments() async throws {
        try await withServer { server in
            let connection = try RawConnection(port: server.port)
            try connection.send("GET /fail HTTP/1.1\r\nHost: t\r\n\r\n")
            let failed = try connection.readResponse()
            #expect(failed.head.status.code == 500)
            #expect(failed.head.headers["Content-Type"] == "application/problem+json")
            #expect(!String(decoding: failed.body, as: UTF8.self).contains("Cancellation"))
            try connection.send("GET /teapot HTTP/1.1\r\nHost: t\r\n\r\n")
            let teapot = try connection.readResponse()
            #expect(teapot.head.status.code == 418)
            let problem = try JSONSerialization.jsonObject(with: Data(teapot.body)) as? [String: Any]
            #expect(problem?["code"] as? String == "teapot")
            #expect(problem?["detail"] as? String == "short and stout")
            #expect(problem?["status"] as? Int == 418)
        }
    }

    @Test func responseHeadersCannotBeSplit() async throws {
        try await withServer { server in
            let connection = try RawConnection(port: server.port)
            try connection.send("GET /inject HTTP/1.1\r\nHost: t\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.head.headers["Set-Cookie"] == nil)
            #expect(response.head.headers["X-Bad"] == nil)
            #expect(response.head.headers["X-Good"] == "fine")
        }
    }

    /// The response head is written byte by byte: the status line, the handler's headers but the framing
    /// ones (in any case), Content-Length for a body, the date, and Connection only when it says something.
    @Test func theResponseHeadIsWrittenAsRFC9112Says() {
        let headers = HTTPHeaders([
            ("Content-Type", "application/json"), ("content-length", "99"), ("CONNECTION", "upgrade"), ("Transfer-Encoding", "chunked"),
            ("traceparent", "00-ab-cd-01"), ("Cache-Control", "no-store"), ("X-Split", "a\r\nSet-Cookie: x"),
        ])
        let date = "Tue, 01 Dec 2026 10:00:00 GMT"
        func head(
            _ status: HTTPStatus,
            body: String = "",
            head: Bool = false,
            close: Bool = false,
            version: HTTPVersion = .http1_1
        ) -> String {
            let bytes = ResponseWriter.serialize(
                Response(status: status, headers: headers, body: Array(body.utf8)),
                version: version,
                headRequest: head,
                close: close,
                date: date
            )
            return String(decoding: bytes, as: UTF8.self)
        }
        let kept = "Content-Type: application/json\r\ntraceparent: 00-ab-cd-01\r\nCache-Control: no-store\r\n"
        #expect(head(.ok, body: "{}") == "HTTP/1.1 200 OK\r\n" + kept + "Content-Length: 2\r\nDate: \(date)\r\n\r\n{}")
        #expect(head(.ok, body: "{}", head: true) == "HTTP/1.1 200 OK\r\n" + kept + "Content-Length: 2\r\nDate: \(date)\r\n\r\n")
        #expect(head(.noContent, close: true) == "HTTP/1.1 204 No Content\r\n" + kept + "Date: \(date)\r\nConnection: close\r\n\r\n")
        #expect(head(.notModified, version: .http1_0).hasSuffix("Date: \(date)\r\nConnection: keep-alive\r\n\r\n"))
        #expect(head(HTTPStatus(code: 418), body: String(repeating: "x", count: 12_345)).contains("Content-Length: 12345\r\n"))
        for value in [0, 7, 10, 99, 100, 65_535, 1_000_000_007, Int.max] {
            var out: [UInt8] = [0x41]
            ResponseWriter.appendDecimal(value, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == "A\(value)")
        }
    }

    @Test func aThousandConcurrentKeepAliveConnections() async throws {
        try await withServer { server in
            // The clients block on their sockets: on a thread of their own, so the server's handlers, which run
            // on the cooperative pool, are never waiting for a thread that waits for them. The count is taken
            // while the thousand connections are still open.
            let (bodies, open) = try await offPool { () throws -> ([[String]], Int) in
                let connections = try (0..<1000).map { _ in try RawConnection(port: server.port) }
                let bodies = try (0..<2).map { round in
                    for (i, connection) in connections.enumerated() {
                        try connection.send("GET /items/\(i)-\(round) HTTP/1.1\r\nHost: t\r\n\r\n")
                    }
                    return try connections.map { String(decoding: try $0.readResponse().body, as: UTF8.self) }
                }
                return (bodies, server.connectionCount)
            }
            for round in 0..<2 {
                #expect(bodies[round] == (0..<1000).map { "item \($0)-\(round)" })
            }
            #expect(open == 1000)
        }
    }

    @Test func slowClientsDoNotHoldUpOthers() async throws {
        let configuration = HTTPServerConfiguration(headerReadTimeout: .seconds(30))
        try await withServer(configuration) { server in
            let slow = try (0..<500).map { _ in try RawConnection(port: server.port) }
            let partial = "GET /hello HTTP/1.1\r\nHost: t\r\n"
            // Each slow client sends its head one byte at a time (a second apart) and never finishes it.
            for byte in partial.utf8.prefix(3) {
                for connection in slow { try connection.send([byte]) }
                let port = server.port
                let status = try await offPool { () throws -> Int in
                    // 10 s: a loaded machine's stalls fit, and it is still well under the slow clients' 30 s.
                    let fresh = try RawConnection(port: port, timeout: .seconds(10))
                    try fresh.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
                    return try fresh.readResponse().head.status.code
                }
                #expect(status == 200)
                try await Task.sleep(for: .seconds(1))
            }
            #expect(server.connectionCount >= 500)
        }
    }

    @Test func headerReadTimeoutAnswers408() async throws {
        let configuration = HTTPServerConfiguration(headerReadTimeout: .milliseconds(300))
        try await withServer(configuration) { server in
            let connection = try RawConnection(port: server.port)
            try connection.send("GET /hello HTTP/1.1\r\nHo")
            let response = try connection.readResponse()
            #expect(response.head.status.code == 408)
            #expect(connection.isClosedByPeer())
            // A connection that never sends a byte is closed without an answer.
            let silent = try RawConnection(port: server.port)
            #expect(silent.isClosedByPeer())
        }
    }

    @Test func bodyReadTimeoutAnswers408() async throws {
        let configuration = HTTPServerConfiguration(bodyReadTimeout: .milliseconds(300))
        try await withServer(configuration) { server in
            let connection = try RawConnection(port: server.port)
            try connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            #expect(try connection.readResponse().head.status.code == 408)
        }
    }

    @Test func idleKeepAliveConnectionsAreClosed() async throws {
        let configuration = HTTPServerConfiguration(keepAliveTimeout: .milliseconds(200))
        try await withServer(configuration) { server in
            let connection = try RawConnection(port: server.port)
            try connection.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try connection.readResponse().head.status.code == 200)
            #expect(connection.isClosedByPeer())
            #expect(server.connectionCount == 0)
        }
    }

    @Test func connectionsOverTheLimitGet503() async throws {
        let configuration = HTTPServerConfiguration(maxConnections: 2)
        try await withServer(configuration) { server in
            let first = try RawConnection(port: server.port)
            let second = try RawConnection(port: server.port)
            try first.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            try second.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            _ = try first.readResponse()
            _ = try second.readResponse()
            let third = try RawConnection(port: server.port)
            let refused = try third.readResponse()
            #expect(refused.head.status.code == 503)
            #expect(third.isClosedByPeer())
        }
    }

    @Test("the head filter answers before the body is read: no key, no buffering")
    func headFilterRefusesBeforeTheBody() async throws {
        let hits = Mutex(0)
        var router = Router()
        router.post("/echo") { request in
            hits.withLock { $0 += 1 }
            return Response(status: .ok, body: request.body)
        }
        let filter: HeadFilter = { head, _ in
            head.headers["Authorization"] == "Bearer good"
                ? .proceed(bodyLimit: nil) : .refuse(HTTPError(.unauthorized, code: "unauthorized", detail: "no").response)
        }
        try await withServer(headFilter: filter, responder: router.responder) { server in
            let connection = try RawConnection(port: server.port, timeout: .seconds(30))
            // A large body is announced and never sent: the answer must not wait for it.
            try connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 900000\r\n\r\n")
            let response = try await offPool { try connection.readResponse() }
            #expect(response.head.status.code == 401)
            #expect(server.bufferedBodyBytes == 0)
            let allowed = try RawConnection(port: server.port)
            try allowed.send("POST /echo HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer good\r\nContent-Length: 2\r\n\r\nok")
            #expect(try await offPool { try allowed.readResponse() }.body == Array("ok".utf8))
        }
        #expect(hits.withLock { $0 } == 1)
    }

    @Test("a route's body limit is applied to the declared length at once, and to a chunked body as it arrives")
    func perRouteBodyLimit() async throws {
        let filter: HeadFilter = { head, _ in .proceed(bodyLimit: head.target == "/echo" ? 64 : nil) }
        try await withServer(headFilter: filter) { server in
            let declared = try RawConnection(port: server.port, timeout: .seconds(30))
            try declared.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 65\r\n\r\n")
            #expect(try await offPool { try declared.readResponse() }.head.status.code == 413)
            let chunked = try RawConnection(port: server.port, timeout: .seconds(30))
            let chunk = String(repeating: "a", count: 40)
            try chunked.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n28\r\n\(chunk)\r\n28\r\n\(chunk)\r\n")
            #expect(try await offPool { try chunked.readResponse() }.head.status.code == 413)
            let small = try RawConnection(port: server.port)
            try small.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 64\r\n\r\n" + String(repeating: "b", count: 64))
            #expect(try await offPool { try small.readResponse() }.head.status.code == 200)
            #expect(server.bufferedBodyBytes == 0)
        }
    }

    @Test("bodies buffered at once are bounded over all connections: past the budget, 503 before reading")
    func globalBodyBudget() async throws {
        let configuration = HTTPServerConfiguration(maxBufferedBodyBytes: 1000)
        try await withServer(configuration) { server in
            let holding = try RawConnection(port: server.port)
            try holding.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 800\r\n\r\n")
            for _ in 0..<200 where server.bufferedBodyBytes == 0 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(server.bufferedBodyBytes == 800)
            let refused = try RawConnection(port: server.port, timeout: .seconds(30))
            try refused.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 300\r\n\r\n")
            let busy = try await offPool { try refused.readResponse() }
            #expect(busy.head.status.code == 503)
            #expect(busy.head.headers["Retry-After"] == "1")
            try holding.send(String(repeating: "x", count: 800))
            #expect(try await offPool { try holding.readResponse() }.head.status.code == 200)
            #expect(server.bufferedBodyBytes == 0)
            let later = try RawConnection(port: server.port)
            try later.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 300\r\n\r\n" + String(repeating: "y", count: 300))
            #expect(try await offPool { try later.readResponse() }.head.status.code == 200)
        }
    }

    @Test("connections per client address are capped; a trusted proxy's address is not")
    func perClientConnectionCap() async throws {
        try await withServer(HTTPServerConfiguration(maxConnectionsPerClient: 2)) { server in
            let first = try RawConnection(port: server.port)
            let second = try RawConnection(port: server.port)
            try first.send("GET /peer HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(String(decoding: try await offPool { try first.readResponse() }.body, as: UTF8.self) == "127.0.0.1")
            try second.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            _ = try await offPool { try second.readResponse() }
            let third = try RawConnection(port: server.port)
            let refused = try await offPool { try third.readResponse() }
            #expect(refused.head.status.code == 503)
            #expect(String(decoding: refused.body, as: UTF8.self).contains("this address"))
            shutdown(first.fd, Int32(SHUT_RDWR))
            for _ in 0..<200 where server.connectionCount > 1 { try await Task.sleep(for: .milliseconds(5)) }
            let fourth = try RawConnection(port: server.port)
            try fourth.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await offPool { try fourth.readResponse() }.head.status.code == 200)
        }
        try await withServer(HTTPServerConfiguration(maxConnectionsPerClient: 1, uncappedClients: ["127.0.0.1"])) { server in
            let connections = try (0..<3).map { _ in try RawConnection(port: server.port) }
            for connection in connections {
                try connection.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try await offPool { try connection.readResponse() }.head.status.code == 200)
            }
        }
    }

    @Test("a path the router would fold (//, dot segments, NUL) never reaches a handler")
    func foldedPathsAreRefused() async throws {
        try await withServer { server in
            for target in ["//hello", "/items/a%00b", "/items/./x", "/items//x"] {
                let connection = try RawConnection(port: server.port, timeout: .seconds(30))
                try connection.send("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n")
                let response = try await offPool { try connection.readResponse() }
                #expect(response.head.status.code == 400, "\(target)")
            }
        }
    }

    @Test func gracefulShutdownFinishesInFlightRequestsAndClosesIdleOnes() async throws {
        let gate = Gate()
        var router = testRouter
        router.get("/gate") { _ in
            await gate.enterAndWait()
            return Response.text("released")
        }
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), responder: router.responder)
        try server.start()
        let idle = try RawConnection(port: server.port)
        try idle.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        _ = try idle.readResponse()
        let busy = try RawConnection(port: server.port)
        try busy.send("GET /gate HTTP/1.1\r\nHost: t\r\n\r\n")
        await gate.waitUntilEntered()
        let port = server.port
        async let stopped: Void = server.shutdown(gracePeriod: .seconds(5))
        // Wait without blocking a cooperative thread (the shutdown needs one); idle connections close first.
        let deadline = ContinuousClock.now + .seconds(30)
        while server.isListening, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(!server.isListening, "still listening 30 s into its shutdown")
        #expect(idle.isClosedByPeer())
        // Nothing new is accepted (the port may already belong to another test's server, so count, don't connect-and-fail).
        let acceptedBefore = server.acceptedConnectionCount
        let late = try? RawConnection(port: port)
        try? late?.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        try await Task.sleep(for: .milliseconds(50))
        #expect(server.acceptedConnectionCount == acceptedBefore)
        gate.open()
        let response = try busy.readResponse()
        #expect(response.head.status.code == 200)
        #expect(response.head.headers["Connection"] == "close")
        await stopped
        #expect(server.connectionCount == 0)
    }

    @Test func shutdownGracePeriodBoundsTheWait() async throws {
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), responder: testRouter.responder)
        try server.start()
        let busy = try RawConnection(port: server.port)
        try busy.send("GET /slow?ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n")
        try await Task.sleep(for: .milliseconds(100))
        await server.shutdown(gracePeriod: .milliseconds(200))
        #expect(server.connectionCount == 0)
        #expect(busy.isClosedByPeer())
    }
}

/// Holds a handler until the test opens it, so a request is certainly in flight (no sleeps to guess).
final class Gate: Sendable {
    private struct State {
        var entered = false
        var opened = false
        var enteredWaiters: [CheckedContinuation<Void, Never>] = []
        var openWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func enterAndWait() async {
        await withCheckedContinuation { continuation in
            let (entered, resumeNow) = state.withLock { state -> ([CheckedContinuation<Void, Never>], Bool) in
                state.entered = true
                let waiters = state.enteredWaiters
                state.enteredWaiters = []
                if state.opened { return (waiters, true) }
                state.openWaiters.append(continuation)
                return (waiters, false)
            }
            for waiter in entered { waiter.resume() }
            if resumeNow { continuation.resume() }
        }
    }

    func waitUntilEntered() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.entered { return true }
                state.enteredWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.opened = true
            defer { state.openWaiters = [] }
            return state.openWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
