import CoreMetrics
import Crypto
import Foundation
import HTTP
import ServiceKit
import Synchronization

/// The gateway's cache of catalog answers (`GET /v1/products`, `GET /v1/products/{sku}`), with an ETag
/// each. It follows the inventory feed: a product's change drops its entry and every list page. A TTL
/// bounds staleness should the feed be unreachable.
final class CatalogCache: Sendable {
    struct Entry: Sendable {
        let etag: String
        let body: [UInt8]
        let expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let ttl: Duration
    private let metrics: MetricsFactory

    init(ttl: Duration, metrics: MetricsFactory) {
        self.ttl = ttl
        self.metrics = metrics
    }

    /// The catalog answer for `key` (path and query), from the cache or from `fetch`, as a response that
    /// carries its ETag and is a 304 when `ifNoneMatch` names it.
    func respond(key: String, ifNoneMatch: String?, fetch: () async throws -> Response) async throws -> Response {
        let now = ContinuousClock.now
        var entry = entries.withLock { entries -> Entry? in
            guard let entry = entries[key] else { return nil }
            if entry.expires <= now {
                entries[key] = nil
                return nil
            }
            return entry
        }
        Counter(label: "catalog_cache_total", dimensions: [("result", entry == nil ? "miss" : "hit")], factory: metrics).increment()
        if entry == nil {
            let response = try await fetch()
            guard response.status.code == 200 else { return response }
            let digest = SHA256.hash(data: Data(response.body)).prefix(16).map { String(format: "%02x", $0) }.joined()
            let fresh = Entry(etag: "\"\(digest)\"", body: response.body, expires: now + ttl)
            entries.withLock { $0[key] = fresh }
            entry = fresh
        }
        let cached = entry!
        var headers = HTTPHeaders([("ETag", cached.etag), ("Cache-Control", "private, no-cache")])
        if let ifNoneMatch, ifNoneMatch.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == cached.etag }) {
            return Response(status: .notModified, headers: headers)
        }
        headers.add(name: "Content-Type", value: "application/json")
        return Response(status: .ok, headers: headers, body: cached.body)
    }

    /// Drops what a change of `sku` makes stale: its own entry and every list page.
    func invalidate(sku: String) {
        entries.withLock { entries in
            entries = entries.filter { key, _ in key != "/v1/products/\(sku)" && !key.hasPrefix("/v1/products?") && key != "/v1/products" }
        }
    }
}
