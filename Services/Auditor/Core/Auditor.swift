import Contracts
import Foundation
import HTTP
import ServiceKit
import Storage

/// The consistency auditor: reads every service through its own API (service tokens; never another
/// service's database), applies `ConsistencyRules`, and reports.
///
/// It is right while traffic runs. Participants are read before the sagas, so an effect's saga is always in
/// the saga list; in-flight sagas are left out of the rules; and a violation is reported only when a second
/// full pass finds it again, so a saga that finished between two reads of the first pass is not reported.
public struct Auditor: Sendable {
    /// A feed consumer the auditor checks: the service it runs in, its name, and the service whose feed it
    /// follows. `status` reads a consumer of the auditor's own process (the gateway's) without HTTP.
    public struct Consumer: Sendable {
        public var service: String
        public var name: String
        public var feed: String
        public var status: (@Sendable () async throws -> (cursor: Int64, deadLetters: Int))?

        public init(
            service: String,
            name: String,
            feed: String,
            status: (@Sendable () async throws -> (cursor: Int64, deadLetters: Int))? = nil
        ) {
            self.service = service
            self.name = name
            self.feed = feed
            self.status = status
        }
    }

    /// The consumers of the system as deployed: the order service follows payment and shipping.
    public static let serviceConsumers = [
        Consumer(service: "order", name: "order.payments", feed: "payment"),
        Consumer(service: "order", name: "order.shipments", feed: "shipping"),
    ]

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    let client: HTTPClient
    let authenticator: ServiceAuthenticator
    /// Base URLs of inventory, order, payment, shipping and saga.
    let urls: [String: String]
    let consumers: [Consumer]
    let limits: AuditLimits

    public init(
        client: HTTPClient,
        authenticator: ServiceAuthenticator,
        urls: [String: String],
        consumers: [Consumer] = Auditor.serviceConsumers,
        limits: AuditLimits = AuditLimits()
    ) {
        self.client = client
        self.authenticator = authenticator
        self.urls = urls
        self.consumers = consumers
        self.limits = limits
    }

    /// Two passes; a violation counts when both find it.
    public func run() async throws -> ConsistencyReport { try await audit().report }

    /// The report, and the snapshot of the last pass (what the reconciliation checks acknowledged checkouts on).
    public func audit() async throws -> (report: ConsistencyReport, snapshot: AuditSnapshot) {
        let started = ContinuousClock.now
        let first = try await snapshot()
        var (violations, totals) = ConsistencyRules.evaluate(first, now: Date(), limits: limits)
        var last = first
        if !violations.isEmpty {
            let seen = Set(violations.map(\.identity))
            let second = try await snapshot()
            let again = ConsistencyRules.evaluate(second, now: Date(), limits: limits)
            violations = again.violations.filter { seen.contains($0.identity) }
            totals = again.totals
            last = second
        }
        let elapsed = ContinuousClock.now - started
        let report = ConsistencyReport(
            generatedAt: Timestamp.format(Date()),
            violations: violations.sorted { ($0.kind.rawValue, $0.identity) < ($1.kind.rawValue, $1.identity) },
            failedSagas: last.sagas.filter { $0.status == "FAILED" }.map(\.id),
            feeds: last.feeds,
            totals: totals,
            durationMs: Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        )
        return (report, last)
    }

    /// Reads every service: participants and orders first, the sagas last.
    public func snapshot() async throws -> AuditSnapshot {
        var snapshot = AuditSnapshot()
        snapshot.feeds = try await feeds()
        snapshot.stock = try await all("inventory", "/v1/reconciliation/stock", limit: ReconciliationAPI.maxPageSize)
        snapshot.reservations = try await all("inventory", "/v1/reconciliation/reservations", limit: ReconciliationAPI.maxPageSize)
        snapshot.payments = try await all("payment", "/v1/reconciliation/payments", limit: ReconciliationAPI.maxPageSize)
        snapshot.shipments = try await all("shipping", "/v1/reconciliation/shipments", limit: ReconciliationAPI.maxPageSize)
        snapshot.orders = try await all("order", "/v1/reconciliation/orders", limit: ReconciliationAPI.maxPageSize)
        snapshot.sagas = try await all("saga", "/v1/reconciliation/sagas", limit: ReconciliationAPI.maxPageSize)
        return snapshot
    }

    /// Every page of a list, following `next`.
    func all<Element: Codable & Sendable>(_ service: String, _ path: String, limit: Int) async throws -> [Element] {
        var items: [Element] = []
        var after: String?
        repeat {
            var query = "?limit=\(limit)"
            if let after { query += "&after=" + (after.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? after) }
            let page: Page<Element> = try await get(service, path + query)
            items += page.items
            after = page.next
        } while after != nil
        return items
    }

    func get<T: Decodable>(_ service: String, _ path: String) async throws -> T {
        guard let base = urls[service] else { throw Failure(description: "no URL for \(service)") }
        let response: Response
        do {
            response = try await client.get(base + path, headers: authenticator.authorization(for: service))
        } catch {
            throw Failure(description: "\(service) cannot be reached: \(error)")
        }
        guard response.status.code == 200 else {
            throw Failure(description: "\(service) answered \(response.status.code) to GET \(path)")
        }
        do {
            return try response.decode(T.self)
        } catch {
            throw Failure(description: "\(service) answered GET \(path) with a body the auditor cannot read: \(error)")
        }
    }

    private struct ConsumerStatus: Decodable {
        var seq: Int64
        var deadLetters: Int
    }

    private struct FeedEvent: Decodable {
        var seq: Int64
        var occurredAt: String
    }

    private struct FeedPage: Decodable {
        var items: [FeedEvent]
        var head: Int64
    }

    func feeds() async throws -> [FeedLag] {
        var lags: [FeedLag] = []
        for consumer in consumers {
            let (cursor, deadLetters): (Int64, Int)
            if let status = consumer.status {
                (cursor, deadLetters) = try await status()
            } else {
                let status: ConsumerStatus = try await get(consumer.service, "/v1/admin/consumers/\(consumer.name)")
                (cursor, deadLetters) = (status.seq, status.deadLetters)
            }
            let page: FeedPage = try await get(consumer.feed, "/v1/events?after=\(cursor)&limit=1")
            let oldest = page.items.first.flatMap { Timestamp.parse($0.occurredAt) }.map { max(0, Int(Date().timeIntervalSince($0))) }
            lags.append(
                FeedLag(
                    consumer: consumer.name,
                    feed: consumer.feed,
                    service: consumer.service,
                    head: page.head,
                    cursor: cursor,
                    oldestUnconsumedSeconds: oldest ?? 0,
                    deadLetters: deadLetters
                )
            )
        }
        return lags
    }
}
