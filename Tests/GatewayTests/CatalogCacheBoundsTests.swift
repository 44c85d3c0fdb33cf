import HTTP
import ServiceKit
import Testing

@testable import Gateway

@Suite("Catalog cache bounds")
struct CatalogCacheBoundsTests {
    @Test("query strings that mean the same page share one entry; junk parameters do not make new ones")
    func listKeysAreNormalised() {
        let key = CatalogCache.listKey(query: ["limit": "20"])
        #expect(key == "/v1/products?limit=20")
        #expect(CatalogCache.listKey(query: ["limit": "20", "x": "1"]) == key)
        #expect(CatalogCache.listKey(query: ["limit": "20", "utm": "a", "b": "c"]) == key)
        #expect(CatalogCache.listKey(query: [:]) == "/v1/products?limit=50")
        #expect(CatalogCache.listKey(query: ["limit": "9999"]) == "/v1/products?limit=200")
        #expect(CatalogCache.listKey(query: ["limit": "abc"]) == "/v1/products?limit=50")
        #expect(CatalogCache.listKey(query: ["after": "SKU 1&x"]) == "/v1/products?limit=50&after=SKU%201%26x")
    }

    @Test("the cache holds at most its capacity, dropping the least recently used")
    func leastRecentlyUsedGoFirst() async throws {
        let cache = CatalogCache(ttl: .seconds(60), capacity: 10, metrics: PrometheusRegistry())
        var fetches = 0
        func get(_ key: String) async throws {
            _ = try await cache.respond(key: key, ifNoneMatch: nil) {
                fetches += 1
                return Response.text(key)
            }
        }
        for index in 0..<10 { try await get("/v1/products/hot-\(index)") }
        for index in 0..<500 {
            try await get("/v1/products/hot-0")
            try await get("/v1/products/cold-\(index)")
            #expect(cache.count <= 10)
        }
        let before = fetches
        try await get("/v1/products/hot-0")
        #expect(fetches == before, "the entry used all along is still cached")
        try await get("/v1/products/hot-5")
        #expect(fetches == before + 1, "an entry not used since the start was dropped")
    }
}
