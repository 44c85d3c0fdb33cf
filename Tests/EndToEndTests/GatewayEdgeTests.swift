import Foundation
import HTTP
import ServiceKit
import TestSupport
import Testing

/// The gateway as an attacker meets it: one 401 for everything without a key, decided before a body is
/// read; body limits per route; operations data for operators only; rate limits with the IETF fields.
@Suite("Gateway edge", .serialized)
struct GatewayEdgeTests {
    static let system = SystemBox()

    final class SystemBox: @unchecked Sendable {
        private var made: SagaMartSystem?
        private let lock = NSLock()

        func get() async throws -> SagaMartSystem {
            if let made = lock.withLock({ made }) { return made }
            let system = try await SagaMartSystem(overrides: [
                "gateway": [
                    "RATE_LIMITS": "on", "RATE_LIMIT_CHECKOUTS": "2/60s", "RATE_LIMIT_PER_ADDRESS": "60/3600s",
                    "RATE_LIMIT_PER_KEY": "1000/60s", "TRUSTED_PROXIES": "127.0.0.1",
                ]
            ])
            lock.withLock { made = system }
            return system
        }
    }

    @Test("every request without a valid key gets the same 401, whatever it names; //v1 is not a way around it")
    func oneAnswerForTheUnauthenticated() async throws {
        let system = try await Self.system.get()
        let sku = uniqueSKU("EDGE")
        try await system.createProduct(sku, stock: 5)
        let created = try await system.checkout(checkoutBody(sku: sku))
        let orderId = try #require(created.object["orderId"] as? String)
        var bodies: Set<String> = []
        for path in ["/v1/orders/\(orderId)", "/v1/orders/no-such-order", "/v2/anything", "/metrics", "/", "/v1/admin/consistency"] {
            for key in [nil, "wrong-key"] {
                let response = try await system.call("GET", path, key: key)
                #expect(response.status.code == 401, "\(path)")
                bodies.insert(response.bodyText)
            }
        }
        #expect(bodies.count == 1, "the 401s differ: \(bodies)")
        let port = system.ports["gateway"]!
        let folded = try RawConnection(port: port)
        try folded.send("GET //v1/orders/\(orderId) HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(alice)\r\n\r\n")
        #expect(try await offPool { try folded.readResponse() }.head.status.code == 400)
        let nul = try RawConnection(port: port)
        try nul.send("GET /v1/orders/\(orderId)%00x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(alice)\r\n\r\n")
        #expect(try await offPool { try nul.readResponse() }.head.status.code == 400)
    }

    @Test("a body is never read before the key is checked, and each route has its limit")
    func bodiesAfterAuthenticationWithinLimits() async throws {
        let system = try await Self.system.get()
        let port = system.ports["gateway"]!
        // 900 KB announced and never sent: the 401 must come from the head alone.
        let anonymous = try RawConnection(port: port, timeout: .seconds(30))
        try anonymous.send("POST /v1/checkout HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n")
        #expect(try await offPool { try anonymous.readResponse() }.head.status.code == 401)
        let large = try RawConnection(port: port, timeout: .seconds(30))
        try large.send(
            "POST /v1/checkout HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(alice)\r\nIdempotency-Key: big\r\nContent-Length: 70000\r\n\r\n"
        )
        #expect(try await offPool { try large.readResponse() }.head.status.code == 413)
        let stock = try await system.call("PUT", "/v1/products/X/stock", key: admin, json: String(repeating: " ", count: 2000) + "{}")
        #expect(stock.status.code == 413)
        let get = try await system.call("GET", "/v1/products", key: alice, json: "{}")
        #expect(get.status.code == 413, "a read carries no body")
    }

    @Test("metrics and readiness details are for the admin key")
    func operationsDataForOperators() async throws {
        let system = try await Self.system.get()
        #expect(try await system.call("GET", "/metrics", key: alice).status.code == 403)
        let metrics = try await system.call("GET", "/metrics", key: admin)
        #expect(metrics.status.code == 200 && metrics.bodyText.contains("http_requests_total"))
        let bare = try await system.call("GET", "/health/ready", key: nil)
        #expect(bare.status.code == 200 && bare.bodyText == #"{"status":"ok"}"#)
        #expect(try await system.call("GET", "/health/ready", key: admin).bodyText.contains("database=ok"))
    }

    @Test("checkouts per customer, requests per address (X-Forwarded-For from a trusted proxy): 429 with Retry-After and RateLimit fields")
    func rateLimits() async throws {
        let system = try await Self.system.get()
        let sku = uniqueSKU("RATE")
        try await system.createProduct(sku, stock: 50)
        var statuses: [Int] = []
        for _ in 0..<4 { statuses.append(try await system.checkout(checkoutBody(sku: sku), key: bob).status.code) }
        #expect(statuses.prefix(2).allSatisfy { $0 == 201 }, "\(statuses)")
        let limited = try await system.checkout(checkoutBody(sku: sku), key: bob)
        #expect(limited.status.code == 429)
        #expect(Int(limited.headers["Retry-After"] ?? "") ?? 0 >= 1)
        #expect(limited.headers["RateLimit-Policy"] == #""checkouts";q=2;w=60"#)
        #expect(limited.headers["RateLimit"]?.hasPrefix(#""checkouts";r=0;t="#) == true)
        #expect(limited.object["code"] as? String == "rate_limited")
        // Other requests of the same key are not checkouts and go on, carrying the per-key state.
        let read = try await system.call("GET", "/v1/products/\(sku)", key: bob)
        #expect(read.status.code == 200)
        #expect(read.headers["RateLimit-Policy"] == #""per-key";q=1000;w=60"#)

        // 60 an hour per address (refilled one a minute, so the count does not depend on the test's speed): the
        // client behind the proxy is limited, another client of the same proxy is not.
        var last = 0
        for _ in 0..<61 {
            last = try await system.call("GET", "/v1/products/\(sku)", key: alice, headers: [("X-Forwarded-For", "203.0.113.7")]).status
                .code
        }
        #expect(last == 429)
        let spoofed = try await system.call(
            "GET",
            "/v1/products/\(sku)",
            key: alice,
            headers: [("X-Forwarded-For", "203.0.113.7, 203.0.113.8")]
        )
        #expect(spoofed.status.code == 200, "the proxy appends the client it saw: the rightmost address counts")
        #expect(
            try await system.call("GET", "/v1/products/\(sku)", key: nil, headers: [("X-Forwarded-For", "203.0.113.7")]).status.code == 429
        )

        // Not behind a trusted proxy, the header is the client's own word and is ignored.
        await system.kill("gateway")
        system.setEnvironment("gateway", "TRUSTED_PROXIES", nil)
        try system.start("gateway")
        try await system.waitReady("gateway")
        var codes: [Int] = []
        for index in 0..<61 {
            codes.append(
                try await system.call("GET", "/v1/products/\(sku)", key: alice, headers: [("X-Forwarded-For", "198.51.100.\(index)")])
                    .status.code
            )
        }
        #expect(codes.last == 429, "\(codes)")
    }
}
