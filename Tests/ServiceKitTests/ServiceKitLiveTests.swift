import Foundation
import HTTP
import Storage
import TestSupport
import Testing

@testable import ServiceKit

/// A runtime for tests: a fixed secret, logs kept in memory.
func makeRuntime(_ name: String, sink: MemoryLogSink = MemoryLogSink()) throws -> ServiceRuntime {
    try ServiceRuntime(
        name: name,
        defaultPort: 0,
        environment: Environment([
            "PORT": "0", "LOG_LEVEL": "debug", "SAGAMART_ENV": "development",
            // The whole test process can stall for seconds while dozens of suites start at once on two
            // cores; these tests are not about the header timeout (ServerTests are).
            "HTTP_HEADER_TIMEOUT": "60s",
        ]),
        logSink: sink
    )
}

@Suite("Service kit, live")
struct ServiceKitLiveTests {
    @Test func traceAndRequestIdFlowAcrossServicesAndIntoLogs() async throws {
        let downstreamLogs = MemoryLogSink()
        let downstream = try makeRuntime("payment", sink: downstreamLogs)
        var downstreamRouter = Router()
        // A route the access table lets the saga call.
        downstreamRouter.get("/v1/payments/{id}") { request in
            downstream.logger.info("payment handled", metadata: ["payment.id": "p-1"])
            return try Response.json([
                "traceparent": request.headers["traceparent"] ?? "",
                "requestId": request.headers["X-Request-ID"] ?? "",
                "caller": CallerContext.caller ?? "",
            ])
        }
        let downstreamServer = try downstream.makeServer(router: downstreamRouter, authenticated: true, host: "127.0.0.1")
        try downstreamServer.start()

        let upstream = try makeRuntime("saga")
        var upstreamRouter = Router()
        let downstreamPort = downstreamServer.port
        upstreamRouter.get("/v1/call") { _ in
            let response = try await upstream.client.get(
                "http://127.0.0.1:\(downstreamPort)/v1/payments/seen",
                headers: upstream.authenticator.authorization(for: "payment")
            )
            return Response(status: response.status, headers: response.headers, body: response.body)
        }
        let upstreamServer = try upstream.makeServer(router: upstreamRouter, authenticated: false, host: "127.0.0.1")
        try upstreamServer.start()

        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let response = try await HTTPClient.patient().get(
            "http://127.0.0.1:\(upstreamServer.port)/v1/call",
            headers: HTTPHeaders([("traceparent", incoming), ("X-Request-ID", "req-abc")])
        )
        #expect(response.status.code == 200)
        let seen = try response.decode([String: String].self)
        let downstreamParent = try #require(TraceContext(traceparent: seen["traceparent"] ?? ""))
        let upstreamSpan = try #require(TraceContext(traceparent: response.headers["traceparent"] ?? ""))
        // One trace end to end; the downstream call's parent is the upstream service's own span.
        #expect(upstreamSpan.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(downstreamParent.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(downstreamParent.spanID == upstreamSpan.spanID)
        #expect(seen["requestId"] == "req-abc")
        #expect(seen["caller"] == "saga")
        #expect(response.headers["X-Request-ID"] == "req-abc")

        let line = try #require(downstreamLogs.lines.first { $0.contains("payment handled") })
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(fields["request_id"] == "req-abc")
        #expect(fields["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(fields["service"] == "payment")
        #expect(fields["level"] == "info")
        #expect(fields["payment.id"] == "p-1")
        #expect(fields["msg"] == "payment handled")
        await upstreamServer.shutdown()
        await downstreamServer.shutdown()
    }

    @Test func unexpectedErrorsAreLoggedButNotShown() async throws {
        let logs = MemoryLogSink()
        let runtime = try makeRuntime("order", sink: logs)
        var router = Router()
        struct Secret: Error { let password = "hunter2" }
        router.get("/boom") { _ in throw Secret() }
        let server = try runtime.makeServer(router: router, authenticated: false, host: "127.0.0.1")
        try server.start()
        let response = try await HTTPClient.patient().get("http://127.0.0.1:\(server.port)/boom")
        #expect(response.status.code == 500)
        #expect(!response.bodyText.contains("hunter2"))
        #expect(logs.lines.contains { $0.contains("request failed") && $0.contains("/boom") })
        await server.shutdown()
    }

    @Test("a database that is unreachable, closed or too busy is 503 with Retry-After; its other errors stay 500")
    func databaseOutagesAre503() async throws {
        let logs = MemoryLogSink()
        let runtime = try makeRuntime("order", sink: logs)
        var router = Router()
        router.get("/lost") { _ in throw DatabaseError(.connectionLost, "PostgreSQL connection lost: FATAL: terminating connection") }
        router.get("/busy") { _ in throw DatabaseError(.timeout, "no database connection became free in time") }
        router.get("/closed") { _ in throw DatabaseError(.closed, "database is closed") }
        router.get("/broken") { _ in throw DatabaseError(.other, "42P01: relation \"orders\" does not exist") }
        let server = try runtime.makeServer(router: router, authenticated: false, host: "127.0.0.1")
        try server.start()
        let client = HTTPClient.patient()
        for path in ["/lost", "/busy", "/closed"] {
            let response = try await client.get("http://127.0.0.1:\(server.port)\(path)")
            #expect(response.status.code == 503, "\(path)")
            #expect(response.headers["Retry-After"] == "1")
            #expect(response.headers["Content-Type"] == "application/problem+json")
            #expect(!response.bodyText.contains("FATAL"))
        }
        #expect(try await client.get("http://127.0.0.1:\(server.port)/broken").status.code == 500)
        #expect(logs.lines.contains { $0.contains("the database failed") && $0.contains("/lost") })
        await server.shutdown()
    }

    @Test func metricsCountRequestsByRouteAndStatus() async throws {
        let runtime = try makeRuntime("inventory")
        var router = Router()
        router.get("/v1/products/{sku}") { request in
            if request.parameters["sku"] == "missing" { throw HTTPError.notFound() }
            return Response.text("ok")
        }
        struct Unexpected: Error {}
        router.get("/v1/boom") { _ in throw Unexpected() }
        OperationsRoutes.mount(on: &router, checks: [:], metrics: runtime.metrics)
        let server = try runtime.makeServer(router: router, authenticated: false, host: "127.0.0.1")
        try server.start()
        let client = HTTPClient.patient()
        let base = "http://127.0.0.1:\(server.port)"
        for sku in ["a", "b", "missing"] { _ = try await client.get("\(base)/v1/products/\(sku)") }
        _ = try await client.get("\(base)/nowhere")
        _ = try await client.get("\(base)/v1/boom")
        let metrics = try await client.get("\(base)/metrics")
        #expect(metrics.headers["Content-Type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = metrics.bodyText
        #expect(text.contains(#"http_requests_total{method="GET",route="/v1/products/{sku}",status="200"} 2"#))
        #expect(text.contains(#"http_requests_total{method="GET",route="/v1/products/{sku}",status="404"} 1"#))
        #expect(text.contains(#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#))
        // An error that is not an HTTPError is counted as the 500 it is answered with (mapping inside counting).
        #expect(text.contains(#"http_requests_total{method="GET",route="/v1/boom",status="500"} 1"#))
        #expect(text.contains("# TYPE http_request_duration_seconds histogram"))
        #expect(text.contains(#"http_request_duration_seconds_count{method="GET",route="/v1/products/{sku}"} 3"#))
        #expect(text.contains(#"http_request_duration_seconds_bucket{method="GET",route="/v1/products/{sku}",le="+Inf"} 3"#))
        await server.shutdown()
    }

    @Test func readinessFollowsTheDatabaseAndItsMigrations() async throws {
        let runtime = try makeRuntime("shipping")
        let database = try SQLiteDatabase(path: temporaryDirectory() + "/ready.db")
        let migrator = Migrator([Migration(version: 1, name: "init", sql: "CREATE TABLE shipments (id TEXT PRIMARY KEY) STRICT")])
        var router = Router()
        OperationsRoutes.mount(on: &router, checks: OperationsRoutes.databaseChecks(database, migrator: migrator), metrics: runtime.metrics)
        let server = try runtime.makeServer(router: router, authenticated: true, host: "127.0.0.1")
        try server.start()
        let client = HTTPClient.patient()
        let base = "http://127.0.0.1:\(server.port)"
        #expect(try await client.get("\(base)/health/live").status.code == 200)
        let before = try await client.get("\(base)/health/ready")
        #expect(before.status.code == 503)
        #expect(before.bodyText.contains("migrations=failing"))
        try await migrator.migrate(database)
        #expect(try await client.get("\(base)/health/ready").status.code == 200)
        await database.close()
        let after = try await client.get("\(base)/health/ready")
        #expect(after.status.code == 503)
        #expect(after.bodyText.contains("database=failing"))
        await server.shutdown()
    }

    @Test func sigtermDrainsInFlightRequestsAndExitsZero() async throws {
        let executable = productsDirectory + "/echo-server"
        try #require(FileManager.default.isExecutableFile(atPath: executable), "build the package first: \(executable)")
        let port = try freePort()
        let process = try ChildProcess(
            executable,
            environment: [
                "PORT": "\(port)", "LOG_FORMAT": "json", "SAGAMART_ENV": "development",
            ]
        )
        let client = HTTPClient.patient()
        var ready = false
        for _ in 0..<200 where !ready {
            ready = (try? await client.get("http://127.0.0.1:\(port)/health/live").status.code) == 200
            if !ready { try await Task.sleep(for: .milliseconds(25)) }
        }
        try #require(ready, "echo-server did not start: \(process.output)")
        async let slow = client.get("http://127.0.0.1:\(port)/slow?ms=600")
        try await Task.sleep(for: .milliseconds(150))
        process.signal(SIGTERM)
        let response = try await slow
        #expect(response.status.code == 200)
        #expect(response.bodyText == #"{"slept":600}"#)
        #expect(await process.wait() == 0)
        #expect(process.output.contains("http server stopped"))
    }

    @Test("out of descriptors, the server pauses accepting instead of spinning, and serves again when some close")
    func acceptPausesOnEMFILE() async throws {
        let executable = productsDirectory + "/echo-server"
        try #require(FileManager.default.isExecutableFile(atPath: executable), "build the package first: \(executable)")
        let port = try freePort()
        // `ulimit -n` lowers soft and hard limits, so the server cannot raise them again.
        let process = try ChildProcess(
            "/bin/sh",
            ["-c", "ulimit -n 40 && exec \(executable)"],
            environment: [
                "PORT": "\(port)", "LOG_FORMAT": "json", "SAGAMART_ENV": "development",
            ]
        )
        let client = HTTPClient.patient()
        var ready = false
        for _ in 0..<200 where !ready {
            ready = (try? await client.get("http://127.0.0.1:\(port)/health/live").status.code) == 200
            if !ready { try await Task.sleep(for: .milliseconds(25)) }
        }
        try #require(ready, "echo-server did not start: \(process.output)")
        // More connections than the server has descriptors: the rest wait in the listen backlog.
        var connections: [RawConnection] = []
        for _ in 0..<60 { connections.append(try RawConnection(port: port)) }
        try await Task.sleep(for: .milliseconds(300))
        let before = try cpuTicks(of: process.pid)
        try await Task.sleep(for: .seconds(1))
        let spent = try cpuTicks(of: process.pid) - before
        // A level-triggered listener retried at once burns a whole core (about 100 ticks a second).
        #expect(spent < 30, "\(spent) ticks of CPU in one second while out of descriptors")
        #expect(process.output.contains("accepting paused"))
        for connection in connections { shutdown(connection.fd, Int32(SHUT_RDWR)) }
        var served = false
        for _ in 0..<200 where !served {
            served = (try? await client.get("http://127.0.0.1:\(port)/health/live").status.code) == 200
            if !served { try await Task.sleep(for: .milliseconds(25)) }
        }
        #expect(served, "the server did not accept again: \(process.output)")
        process.signal(SIGTERM)
        #expect(await process.wait() == 0)
    }

    /// User plus system time of a process, in clock ticks (`/proc/PID/stat` fields 14 and 15).
    private func cpuTicks(of pid: pid_t) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        return Int(fields[11])! + Int(fields[12])!
    }
}
