import Foundation
import Synchronization
import TestSupport
import Testing

@testable import HTTP

@Suite("HTTP client")
struct ClientTests {
    @Test func reusesKeepAliveConnections() async throws {
        try await withServer { server in
            let client = HTTPClient.patient()
            for i in 0..<10 {
                let response = try await client.get("http://127.0.0.1:\(server.port)/items/\(i)")
                #expect(response.bodyText == "item \(i)")
            }
            #expect(server.connectionCount == 1)
            #expect(client.idleConnectionCount == 1)
        }
    }

    @Test func concurrentCallsOpenSeveralConnectionsAndPoolThem() async throws {
        try await withServer { server in
            // 20 connects at once beside the whole suite: a loaded CI run once took over 2 s for one.
            let client = HTTPClient(configuration: HTTPClientConfiguration(connectTimeout: .seconds(30), breaker: .off))
            try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<20 {
                    group.addTask { try await client.get("http://127.0.0.1:\(server.port)/slow?ms=50").bodyText + "\(i)" }
                }
                var count = 0
                for try await _ in group { count += 1 }
                #expect(count == 20)
            }
            #expect(client.idleConnectionCount >= 2)
            #expect(client.idleConnectionCount == server.connectionCount)
        }
    }

    @Test func sendsBodiesAndReadsJSON() async throws {
        try await withServer { server in
            let client = HTTPClient.patient()
            let request = try ClientRequest.json("POST", "http://127.0.0.1:\(server.port)/echo", ["greeting": "hi"])
            let response = try await client.execute(request)
            #expect(try response.decode([String: String].self) == ["greeting": "hi"])
        }
    }

    @Test func readsChunkedResponses() async throws {
        let canned = try CannedServer(
            response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n",
            closeAfter: false
        )
        defer { canned.stop() }
        let client = HTTPClient.patient()
        #expect(try await client.get("http://127.0.0.1:\(canned.port)/").bodyText == "Wikipedia")
        #expect(try await client.get("http://127.0.0.1:\(canned.port)/").bodyText == "Wikipedia")
        #expect(client.idleConnectionCount == 1)
    }

    @Test func readsCloseDelimitedResponses() async throws {
        let canned = try CannedServer(response: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end", closeAfter: true)
        defer { canned.stop() }
        let client = HTTPClient.patient()
        #expect(try await client.get("http://127.0.0.1:\(canned.port)/").bodyText == "to the end")
        #expect(client.idleConnectionCount == 0)
    }

    @Test func refusesResponsesOverTheLimit() async throws {
        let canned = try CannedServer(
            response: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + String(repeating: "x", count: 100),
            closeAfter: false
        )
        defer { canned.stop() }
        let client = HTTPClient(configuration: HTTPClientConfiguration(limits: HTTPParserLimits(maxBodyBytes: 50)))
        await #expect {
            _ = try await client.get("http://127.0.0.1:\(canned.port)/")
        } throws: { ($0 as? HTTPClientError)?.kind == .responseTooLarge }
    }

    @Test func refusedConnectionIsAConnectError() async throws {
        let port = try freePort()
        let client = HTTPClient()
        await #expect {
            _ = try await client.get("http://127.0.0.1:\(port)/")
        } throws: { ($0 as? HTTPClientError)?.kind == .connectFailed }
    }

    @Test func requestTimeout() async throws {
        try await withServer { server in
            let client = HTTPClient()
            // A pooled connection first: the slow call then has no connect phase, so on a loaded machine its
            // 200 ms cannot run out while connecting (a connectFailed instead of the timeout under test).
            let warm = try? await client.get("http://127.0.0.1:\(server.port)/hello")
            #expect(warm?.bodyText == "hello")
            await #expect {
                _ = try await client.execute(
                    ClientRequest(url: "http://127.0.0.1:\(server.port)/slow?ms=3000", timeout: .milliseconds(200))
                )
            } throws: { ($0 as? HTTPClientError)?.kind == .timeout }
        }
    }

    @Test func callersDeadlineBoundsTheCallAndTravelsWithIt() async throws {
        try await withServer { server in
            let client = HTTPClient()
            let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            // A deadline roomy enough for a loaded machine: the header carries what is left of it.
            let context = RequestContext(requestID: "req-42", traceparent: traceparent, deadline: .now + .seconds(20))
            try await RequestContext.$current.withValue(context) {
                let echoed = try await client.get("http://127.0.0.1:\(server.port)/headers").decode([String: String].self)
                #expect(echoed["x-request-id"] == "req-42")
                #expect(echoed["traceparent"] == traceparent)
                let left = Int(echoed["x-deadline-ms"] ?? "") ?? .max
                #expect(left > 0 && left <= 20_000)
            }
            // A short one bounds a slow call.
            let short = RequestContext(requestID: "req-43", traceparent: traceparent, deadline: .now + .milliseconds(300))
            try await RequestContext.$current.withValue(short) {
                await #expect {
                    _ = try await client.get("http://127.0.0.1:\(server.port)/slow?ms=3000")
                } throws: { ($0 as? HTTPClientError)?.kind == .timeout }
            }
        }
    }

    @Test func retriesOnlyWhenAsked() async throws {
        let calls = Atomic<Int>(0)
        var router = Router()
        router.get("/flaky") { _ in
            calls.add(1, ordering: .relaxed).newValue <= 2 ? Response.text("busy", status: .serviceUnavailable) : Response.text("ok")
        }
        try await withServer(responder: router.responder) { server in
            let client = HTTPClient.patient()
            let url = "http://127.0.0.1:\(server.port)/flaky"
            #expect(try await client.get(url).status.code == 503)
            calls.store(0, ordering: .relaxed)
            let retried = try await client.execute(
                ClientRequest(url: url, retry: RetryPolicy(maxAttempts: 4, initialBackoff: .milliseconds(5)))
            )
            #expect(retried.status.code == 200)
            #expect(calls.load(ordering: .relaxed) == 3)
        }
    }

    @Test func retriesConnectFailuresUntilTheServerComesUp() async throws {
        let port = try freePort()
        // Retries, not the breaker, are under test: on an idle machine the 150 ms of refusals are enough
        // failures to open a breaker, whose open state would end the retries.
        let client = HTTPClient(configuration: HTTPClientConfiguration(breaker: .off))
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: port), responder: testRouter.responder)
        async let response = client.execute(
            ClientRequest(
                url: "http://127.0.0.1:\(port)/hello",
                retry: RetryPolicy(maxAttempts: 50, initialBackoff: .milliseconds(20), maxBackoff: .milliseconds(40))
            )
        )
        try await Task.sleep(for: .milliseconds(150))
        try server.start()
        #expect(try await response.bodyText == "hello")
        await server.shutdown()
    }

    @Test func replacesPooledConnectionsTheServerClosed() async throws {
        try await withServer(HTTPServerConfiguration(keepAliveTimeout: .milliseconds(100))) { server in
            // Reconnecting is under test, not its timeout: 30 s, for a loaded CI run (2 s once ran out there).
            let client = HTTPClient(configuration: HTTPClientConfiguration(connectTimeout: .seconds(30)))
            #expect(try await client.get("http://127.0.0.1:\(server.port)/hello").bodyText == "hello")
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await client.get("http://127.0.0.1:\(server.port)/hello").bodyText == "hello")
        }
    }

    @Test func invalidURLs() async throws {
        let client = HTTPClient()
        for url in ["https://example.com/", "http://", "http://host:99999/", "ftp://x/"] {
            await #expect {
                _ = try await client.get(url)
            } throws: { ($0 as? HTTPClientError)?.kind == .invalidURL }
        }
    }

    /// A descriptor epoll will not watch (a regular file: EPERM) fails the wait at once. Before, the waiter
    /// kept its continuation without being registered, so neither readiness nor the deadline sweep could
    /// ever resume it: the call hung past any deadline.
    @Test func aWaitOnADescriptorEpollRefusesFailsAtOnce() async throws {
        let path = temporaryDirectory() + "/plain-file"
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        let loop = EventLoopGroup.shared.next()
        await #expect {
            try await loop.waitForIO(fd: fd, write: false, deadline: .now + .seconds(600))
        } throws: { ($0 as? HTTPClientError)?.kind == .connectionClosed }
    }
}
