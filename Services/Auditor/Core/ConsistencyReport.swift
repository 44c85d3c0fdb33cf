import Contracts
import FoundationEssentials

/// One way the services disagree, or a state that needs an operator.
public struct Violation: Codable, Sendable, Equatable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// `received + restocked != available + held + committed` for a SKU.
        case stockNotConserved = "stock_not_conserved"
        /// A product's `reserved` counter differs from the units in its held reservations.
        case reservedCounterMismatch = "reserved_counter_mismatch"
        /// Captured minus refunded money for an order differs from its approved total.
        case moneyNotConserved = "money_not_conserved"
        /// Money captured for an order that is not approved.
        case captureWithoutApproval = "capture_without_approval"
        /// A saga a participant refused to compensate: an operator must act.
        case sagaFailed = "saga_failed"
        /// A saga still running long after its step deadline.
        case sagaStuck = "saga_stuck"
        /// A finished saga whose participant holds another state than the saga's outcome implies.
        case participantDisagrees = "participant_disagrees"
        /// Effects that no saga owns.
        case orphanReservation = "orphan_reservation"
        case orphanAuthorization = "orphan_authorization"
        case orphanCapture = "orphan_capture"
        case orphanShipment = "orphan_shipment"
        case orphanOrder = "orphan_order"
        /// One key or step that took effect more than once.
        case duplicateEffect = "duplicate_effect"
        /// Events a consumer gave up on.
        case deadLetters = "dead_letters"
        /// A consumer whose oldest unconsumed event is older than the lag limit.
        case consumerLagging = "consumer_lagging"
    }

    public var kind: Kind
    /// The ids involved, by what they are: `saga`, `order`, `payment`, `shipment`, `reservation`, `sku`,
    /// `consumer`.
    public var ids: [String: String]
    public var detail: String
    /// Seconds since the entity involved last changed, where known.
    public var ageSeconds: Int?
    /// The status the entity involved holds (`CAPTURED`, `absent`), where one is.
    public var observed: String?

    public init(_ kind: Kind, ids: [String: String], detail: String, ageSeconds: Int? = nil, observed: String? = nil) {
        self.kind = kind
        self.ids = ids
        self.detail = detail
        self.ageSeconds = ageSeconds
        self.observed = observed
    }

    /// Identity for comparing two passes: kind and ids (detail and age may move between passes).
    var identity: String { kind.rawValue + "|" + ids.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
}

/// Where a feed consumer stands.
public struct FeedLag: Codable, Sendable, Equatable {
    public var consumer: String
    /// The service whose feed it follows, and the service it runs in.
    public var feed: String
    public var service: String
    public var head: Int64
    public var cursor: Int64
    public var lag: Int64
    /// Age of the oldest event not consumed yet, in seconds (0 with no lag).
    public var oldestUnconsumedSeconds: Int
    public var deadLetters: Int

    public init(
        consumer: String,
        feed: String,
        service: String,
        head: Int64,
        cursor: Int64,
        oldestUnconsumedSeconds: Int,
        deadLetters: Int
    ) {
        self.consumer = consumer
        self.feed = feed
        self.service = service
        self.head = head
        self.cursor = cursor
        self.lag = max(0, head - cursor)
        self.oldestUnconsumedSeconds = oldestUnconsumedSeconds
        self.deadLetters = deadLetters
    }
}

/// The auditor's answer: every violation, and the figures it checked.
public struct ConsistencyReport: Codable, Sendable, Equatable {
    public struct Totals: Codable, Sendable, Equatable {
        public var sagas: Int = 0
        public var sagasByStatus: [String: Int] = [:]
        public var orders: Int = 0
        public var reservations: Int = 0
        public var payments: Int = 0
        public var shipments: Int = 0
        public var skus: Int = 0
        /// Minor units, all currencies added (the test catalog has one).
        public var capturedCents: Int64 = 0
        public var refundedCents: Int64 = 0
        public var approvedOrderCents: Int64 = 0
        /// Sagas left out as in flight: running and younger than the stuck limit.
        public var inFlight: Int = 0

        public init() {}
    }

    public var generatedAt: String
    public var ok: Bool
    public var violations: [Violation]
    public var failedSagas: [String]
    public var feeds: [FeedLag]
    public var totals: Totals
    public var durationMs: Int

    public init(generatedAt: String, violations: [Violation], failedSagas: [String], feeds: [FeedLag], totals: Totals, durationMs: Int) {
        self.generatedAt = generatedAt
        self.ok = violations.isEmpty
        self.violations = violations
        self.failedSagas = failedSagas
        self.feeds = feeds
        self.totals = totals
        self.durationMs = durationMs
    }

    /// The report as an operator reads it on a terminal.
    public var text: String {
        var lines: [String] = []
        let t = totals
        lines.append("consistency report \(generatedAt) (\(durationMs) ms): \(ok ? "OK" : "\(violations.count) violation(s)")")
        let statuses = t.sagasByStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("  sagas \(t.sagas) (\(statuses)), \(t.inFlight) in flight")
        lines.append(
            "  orders \(t.orders), reservations \(t.reservations), payments \(t.payments), shipments \(t.shipments), skus \(t.skus)"
        )
        lines.append(
            "  money: captured \(t.capturedCents), refunded \(t.refundedCents), approved orders \(t.approvedOrderCents) (minor units)"
        )
        for feed in feeds {
            lines.append(
                "  feed \(feed.feed) -> \(feed.service)/\(feed.consumer): head \(feed.head), cursor \(feed.cursor), lag \(feed.lag)"
                    + " (oldest \(feed.oldestUnconsumedSeconds) s), dead letters \(feed.deadLetters)"
            )
        }
        for violation in violations {
            let ids = violation.ids.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let age = violation.ageSeconds.map { " age \($0) s" } ?? ""
            lines.append("  VIOLATION \(violation.kind.rawValue) \(ids)\(age): \(violation.detail)")
        }
        return lines.joined(separator: "\n")
    }
}
