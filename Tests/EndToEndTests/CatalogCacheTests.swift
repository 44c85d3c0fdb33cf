import Foundation
import HTTP
import ServiceKit
import TestSupport
import Testing

/// The gateway's catalog cache: ETags and 304s, and changes made behind the gateway's back reaching it
/// through inventory's event feed.
@Suite("Catalog cache", .serialized)
struct CatalogCacheTests {
    /// Polls the gateway until the product shows `available` (the limit only bounds a failing test).
    func waitForAvailable(_ system: SagaMartSystem, _ sku: String, _ expected: Int) async throws -> Response {
        var response = try await system.call("GET", "/v1/products/\(sku)", key: alice)
        let deadline = ContinuousClock.now + .seconds(10)
        while response.object["available"] as? Int != expected && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            response = try await system.call("GET", "/v1/products/\(sku)", key: alice)
        }
        return response
    }

    @Test(arguments: Layout.available)
    func etagsAndFeedDrivenInvalidation(_ layout: Layout) async throws {
        let system = try await SharedSystem.shared.get(layout)
        let sku = uniqueSKU("CACHE")
        try await system.createProduct(sku, stock: 7)
        let first = try await system.call("GET", "/v1/products/\(sku)", key: alice)
        let etag = try #require(first.headers["ETag"])
        let again = try await system.call("GET", "/v1/products/\(sku)", key: bob, headers: [("If-None-Match", etag)])
        #expect(again.status.code == 304)
        #expect(again.body.isEmpty)
        #expect(try await system.call("GET", "/v1/products", key: alice).headers["ETag"] != nil)

        // A change made directly at inventory, which the gateway hears of only through the feed.
        let token = ServiceAuthenticator.development(service: "gateway").authorization(for: "inventory")
        var headers = token
        headers.add(name: "Content-Type", value: "application/json")
        let changed = try await system.client.execute(
            ClientRequest(
                method: "PUT",
                url: system.url("inventory") + "/v1/products/\(sku)/stock",
                headers: headers,
                body: Array(#"{"available":3}"#.utf8)
            )
        )
        #expect(changed.status.code == 200)
        let fresh = try await waitForAvailable(system, sku, 3)
        #expect(fresh.object["available"] as? Int == 3)
        #expect(fresh.headers["ETag"] != etag)
        #expect(try await system.call("GET", "/v1/products/\(sku)", key: alice, headers: [("If-None-Match", etag)]).status.code == 200)

        // A checkout's reservation is a stock change too.
        // As a client does: a 503 (refused at once or a backend unavailable, which a loaded CI run of the
        // shared system has answered) is asked again after its Retry-After with the same Idempotency-Key.
        let key = UUID().uuidString
        var checkout = try await system.checkout(checkoutBody(sku: sku, quantity: 2), idempotencyKey: key)
        for _ in 0..<3 where checkout.status.code == 503 {
            try await Task.sleep(for: .seconds(Int(checkout.headers["Retry-After"] ?? "") ?? 1))
            checkout = try await system.checkout(checkoutBody(sku: sku, quantity: 2), idempotencyKey: key)
        }
        #expect(checkout.status.code == 201, "checkout: \(checkout.status.code) \(checkout.bodyText)")
        #expect(try await waitForAvailable(system, sku, 1).object["available"] as? Int == 1)
        let list = try await system.call("GET", "/v1/products?limit=200", key: alice).object["items"] as? [[String: Any]] ?? []
        let listed = list.first { $0["sku"] as? String == sku }
        #expect(listed == nil || listed?["available"] as? Int == 1)

        // Operators see the cache's consumer through the gateway with the admin key; customers do not.
        let status = try await system.call("GET", "/v1/admin/consumers/catalog-cache", key: admin)
        #expect(status.status.code == 200)
        #expect(status.object["deadLetters"] as? Int == 0)
        #expect((status.object["seq"] as? Int ?? 0) > 0)
        #expect(try await system.call("GET", "/v1/admin/consumers/catalog-cache", key: alice).status.code == 403)
    }
}
