import Contracts
import FoundationEssentials
import HTTP
import Platform
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
            durationMs: Int(elapsed.wholeMilliseconds())
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
    /// The service's position now (its consistency token) goes with the reads, so a service that reads from a
    /// standby answers with everything committed before the auditor asked: what the order of the reads
    /// (participants before sagas) relies on.
    func all<Element: Codable & Sendable>(_ service: String, _ path: String, limit: Int) async throws -> [Element] {
        var items: [Element] = []
        var after: String?
        let token = try await consistencyToken(service)
        repeat {
            var query = "?limit=\(limit)"
            if let after { query += "&after=" + queryValue(after) }
            let page: Page<Element> = try await get(service, path + query, token: token)
            items += page.items
            after = page.next
        } while after != nil
        return items
    }

    /// A service's position (nil when it reads no standby, or is of an older version without the route).
    func consistencyToken(_ service: String) async throws -> String? {
        guard let base = urls[service] else { throw Failure(description: "no URL for \(service)") }
        let response = try? await client.get(base + "/v1/consistency-token", headers: authenticator.authorization(for: service))
        guard let response, response.status.code == 200 else { return nil }
        return try? response.decode([String: String].self)["token"]
    }

    func get<T: Decodable>(_ service: String, _ path: String, token: String? = nil) async throws -> T {
        guard let base = urls[service] else { throw Failure(description: "no URL for \(service)") }
        let response: Response
        var headers = authenticator.authorization(for: service)
        if let token { headers.add(name: "X-Consistency-Token", value: token) }
        do {
            response = try await client.get(base + path, headers: headers)
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

    /// The consumers to check: the ones given, and the others their services run under the same name and a
    /// suffix (a sharded order service runs `order.payments.shard-1` beside `order.payments`).
    func allConsumers() async throws -> [Consumer] {
        var all = consumers
        for service in Set(consumers.filter { $0.status == nil }.map(\.service)).sorted() {
            struct Names: Decodable { var items: [String] }
            guard let names: Names = try? await get(service, "/v1/admin/consumers") else { continue }
            for name in names.items where !all.contains(where: { $0.service == service && $0.name == name }) {
                guard let base = consumers.first(where: { $0.service == service && name.hasPrefix($0.name + ".") }) else { continue }
                all.append(Consumer(service: service, name: name, feed: base.feed))
            }
        }
        return all
    }

    func feeds() async throws -> [FeedLag] {
        var lags: [FeedLag] = []
        for consumer in try await allConsumers() {
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
