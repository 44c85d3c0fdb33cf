import Contracts
import CoreMetrics
import Crypto
import FoundationEssentials
import HTTP
import Platform
import ServiceKit
import Synchronization

/// The gateway's cache of catalog answers (`GET /v1/products`, `GET /v1/products/{sku}`), with an ETag
/// each. It follows the inventory feed: a product's change drops its entry and every list page. A TTL
/// bounds staleness should the feed be unreachable, and `capacity` bounds its size: past it, the least
/// recently used entries go. Keys are normalised paths (`CatalogCache.listKey`), so a client cannot grow
/// the cache with query strings that mean the same page.
final class CatalogCache: Sendable {
    struct Entry: Sendable {
        let etag: String
        let body: [UInt8]
        let expires: ContinuousClock.Instant
        var used: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    private let ttl: Duration
    private let capacity: Int
    private let metrics: MetricsFactory

    init(ttl: Duration, capacity: Int = 1000, metrics: MetricsFactory) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
        self.metrics = metrics
    }

    /// Entries held now.
    var count: Int { state.withLock { $0.entries.count } }

    /// The one key (and inventory path) of a list page: the parameters inventory reads, in one order,
    /// with the limit clamped as inventory clamps it; anything else in the query is dropped.
    static func listKey(query: [String: String]) -> String {
        let limit = min(max(Int(query["limit"] ?? "50") ?? 50, 1), 200)
        var key = "/v1/products?limit=\(limit)"
        if let after = query["after"], !after.isEmpty { key += "&after=" + queryValue(String(after.prefix(128))) }
        return key
    }

    /// The catalog answer for `key` (path and query), from the cache or from `fetch`, as a response that
    /// carries its ETag and is a 304 when `ifNoneMatch` names it.
    func respond(key: String, ifNoneMatch: String?, fetch: () async throws -> Response) async throws -> Response {
        let now = ContinuousClock.now
        var entry = state.withLock { state -> Entry? in
            guard var entry = state.entries[key] else { return nil }
            if entry.expires <= now {
                state.entries[key] = nil
                return nil
            }
            state.clock += 1
            entry.used = state.clock
            state.entries[key] = entry
            return entry
        }
        Counter(label: "catalog_cache_total", dimensions: [("result", entry == nil ? "miss" : "hit")], factory: metrics).increment()
        if entry == nil {
            let response = try await fetch()
            guard response.status.code == 200 else { return response }
            let digest = Hex.encode(SHA256.hash(data: Data(response.body)).prefix(16))
            let fresh = Entry(etag: "\"\(digest)\"", body: response.body, expires: now + ttl, used: 0)
            store(fresh, key: key)
            entry = fresh
        }
        let cached = entry!
        var headers = HTTPHeaders([("ETag", cached.etag), ("Cache-Control", "private, no-cache")])
        if let ifNoneMatch, ifNoneMatch.split(separator: ",").contains(where: { $0.trimmingSpaces() == cached.etag }) {
            return Response(status: .notModified, headers: headers)
        }
        headers.add(name: "Content-Type", value: "application/json")
        return Response(status: .ok, headers: headers, body: cached.body)
    }

    private func store(_ entry: Entry, key: String) {
        state.withLock { state in
            state.clock += 1
            var entry = entry
            entry.used = state.clock
            if state.entries[key] == nil && state.entries.count >= capacity {
                // Drop the least recently used tenth at once, so a stream of misses costs one sort per tenth.
                let victims = state.entries.sorted { $0.value.used < $1.value.used }.prefix(max(1, capacity / 10))
                for (victim, _) in victims { state.entries[victim] = nil }
            }
            state.entries[key] = entry
        }
    }

    /// Drops what a change of `sku` makes stale: its own entry and every list page.
    func invalidate(sku: String) {
        state.withLock { state in
            state.entries = state.entries.filter { key, _ in key != "/v1/products/\(sku)" && !key.hasPrefix("/v1/products?") }
        }
    }
}
