import Contracts
import FoundationEssentials
import ServiceKit
import Storage

/// Everything the auditor read, service by service. Participants are read before the sagas, so every
/// effect seen was made by a saga that the saga list read afterwards contains.
public struct AuditSnapshot: Sendable {
    public var stock: [ReconciliationAPI.Stock] = []
    public var reservations: [ReconciliationAPI.Effect] = []
    public var payments: [ReconciliationAPI.Effect] = []
    public var shipments: [ReconciliationAPI.Effect] = []
    public var orders: [ReconciliationAPI.Order] = []
    public var sagas: [ReconciliationAPI.Saga] = []
    public var feeds: [FeedLag] = []

    public init() {}
}

/// The limits past which a state counts as a violation rather than as work in progress.
public struct AuditLimits: Sendable {
    /// A saga that has not moved for this long is stuck (its step deadlines are long past).
    public var stuckAfter: TimeInterval
    /// A consumer whose oldest unconsumed event is older than this is lagging.
    public var lagLimit: TimeInterval

    public init(stuckAfter: TimeInterval = 120, lagLimit: TimeInterval = 60) {
        self.stuckAfter = stuckAfter
        self.lagLimit = lagLimit
    }
}

/// The consistency rules, as a pure function of a snapshot and the time: no network, no database.
public enum ConsistencyRules {
    static let approved: Set<String> = ["APPROVED", "SHIPPED", "DELIVERED"]

    public static func evaluate(
        _ snapshot: AuditSnapshot,
        now: Date,
        limits: AuditLimits
    ) -> (
        violations: [Violation], totals: ConsistencyReport.Totals
    ) {
        var violations: [Violation] = []
        var totals = ConsistencyReport.Totals()
        func age(_ text: String) -> Int? { Timestamp.parse(text).map { max(0, Int(now.timeIntervalSince($0))) } }

        // Stock, per SKU (one snapshot of inventory's own database).
        for row in snapshot.stock {
            if row.received + row.restocked != row.available + row.held + row.committed {
                violations.append(
                    Violation(
                        .stockNotConserved,
                        ids: ["sku": row.sku],
                        detail: "received \(row.received) + restocked \(row.restocked) != available \(row.available)"
                            + " + held \(row.held) + committed \(row.committed)"
                    )
                )
            }
            if row.reserved != row.held {
                violations.append(
                    Violation(.reservedCounterMismatch, ids: ["sku": row.sku], detail: "reserved \(row.reserved), held \(row.held)")
                )
            }
        }

        let checkouts = snapshot.sagas.filter { $0.kind == "checkout" }
        let sagaById = Dictionary(snapshot.sagas.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let checkoutByOrder = Dictionary(checkouts.map { ($0.orderId, $0) }, uniquingKeysWith: { first, _ in first })
        let checkoutByPayment = Dictionary(checkouts.map { ($0.paymentId, $0) }, uniquingKeysWith: { first, _ in first })
        let checkoutByShipment = Dictionary(checkouts.map { ($0.shipmentId, $0) }, uniquingKeysWith: { first, _ in first })
        let cancellationByOrder = Dictionary(
            snapshot.sagas.filter { $0.kind == "cancellation" }.map { ($0.orderId, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        let orderById = Dictionary(snapshot.orders.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let reservationById = Dictionary(snapshot.reservations.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let paymentById = Dictionary(snapshot.payments.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let shipmentById = Dictionary(snapshot.shipments.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })

        // Sagas: terminal, or running and not stuck. In-flight orders are left out of every other rule.
        var inFlightOrders = Set<String>()
        for saga in snapshot.sagas {
            totals.sagasByStatus[saga.status, default: 0] += 1
            switch saga.status {
            case "RUNNING", "COMPENSATING":
                inFlightOrders.insert(saga.orderId)
                if let age = age(saga.updatedAt), Double(age) > limits.stuckAfter {
                    violations.append(
                        Violation(
                            .sagaStuck,
                            ids: ["saga": saga.id, "order": saga.orderId],
                            detail: "\(saga.kind) saga \(saga.status) and unchanged for \(age) s",
                            ageSeconds: age
                        )
                    )
                } else {
                    totals.inFlight += 1
                }
            case "FAILED":
                inFlightOrders.insert(saga.orderId)
                violations.append(
                    Violation(
                        .sagaFailed,
                        ids: ["saga": saga.id, "order": saga.orderId],
                        detail: "\(saga.kind) saga FAILED (\(saga.failureCode ?? "no code")): needs an operator's retry",
                        ageSeconds: age(saga.updatedAt)
                    )
                )
            default: break
            }
            for (step, count) in saga.succeeded where count > 1 {
                violations.append(
                    Violation(.duplicateEffect, ids: ["saga": saga.id], detail: "step \(step) succeeded \(count) times")
                )
            }
        }
        totals.sagas = snapshot.sagas.count

        // Finished checkouts: every participant holds the state the outcome implies.
        for saga in checkouts where !inFlightOrders.contains(saga.orderId) {
            let order = orderById[saga.orderId]
            let reservation = reservationById[saga.id]
            let payment = paymentById[saga.paymentId]
            let shipment = shipmentById[saga.shipmentId]
            let expected: (order: Set<String?>, reservation: Set<String?>, payment: Set<String?>, shipment: Set<String?>)
            switch saga.status {
            case "COMPLETED":
                if cancellationByOrder[saga.orderId]?.status == "COMPLETED" {
                    expected = (["CANCELLED"], ["RESTOCKED"], ["REFUNDED"], ["CANCELLED"])
                } else {
                    expected = (Set(approved), ["COMMITTED"], ["CAPTURED"], ["SCHEDULED", "DISPATCHED", "DELIVERED"])
                }
            case "COMPENSATED":
                expected = (["REJECTED", nil], ["RELEASED", nil], ["VOIDED", "DECLINED", nil], ["CANCELLED", nil])
            default: continue
            }
            let found: [(String, String, String?, Set<String?>)] = [
                ("order", saga.orderId, order?.status, expected.order),
                ("reservation", saga.id, reservation?.status, expected.reservation),
                ("payment", saga.paymentId, payment?.status, expected.payment),
                ("shipment", saga.shipmentId, shipment?.status, expected.shipment),
            ]
            for (what, id, status, allowed) in found where !allowed.contains(status) {
                let wanted = allowed.map { $0 ?? "absent" }.sorted().joined(separator: " or ")
                // (`what` may be "order" itself: a literal with both would trap on the duplicate key.)
                var ids = ["saga": saga.id, "order": saga.orderId]
                ids[what] = id
                violations.append(
                    Violation(
                        .participantDisagrees,
                        ids: ids,
                        detail: "checkout \(saga.status): \(what) is \(status ?? "absent"), expected \(wanted)",
                        ageSeconds: age(saga.updatedAt),
                        observed: status ?? "absent"
                    )
                )
            }
        }

        // Orphans: effects that no saga owns.
        for reservation in snapshot.reservations {
            guard ["RESERVED", "COMMITTED"].contains(reservation.status), sagaById[reservation.id] == nil else { continue }
            violations.append(
                Violation(
                    .orphanReservation,
                    ids: ["reservation": reservation.id],
                    detail: "\(reservation.status) reservation of \(reservation.amount) unit(s) with no saga",
                    ageSeconds: age(reservation.updatedAt),
                    observed: reservation.status
                )
            )
        }
        // An authorisation left open by a finished saga is its participant disagreeing (above).
        for payment in snapshot.payments where ["AUTHORIZED", "CAPTURED"].contains(payment.status) && checkoutByPayment[payment.id] == nil {
            violations.append(
                Violation(
                    payment.status == "CAPTURED" ? .orphanCapture : .orphanAuthorization,
                    ids: ["payment": payment.id, "order": payment.orderId],
                    detail: "\(payment.status) payment of \(payment.amount) \(payment.currency ?? "") with no saga",
                    ageSeconds: age(payment.updatedAt)
                )
            )
        }
        for shipment in snapshot.shipments where shipment.status != "CANCELLED" && checkoutByShipment[shipment.id] == nil {
            violations.append(
                Violation(
                    .orphanShipment,
                    ids: ["shipment": shipment.id, "order": shipment.orderId],
                    detail: "\(shipment.status) shipment with no saga",
                    ageSeconds: age(shipment.updatedAt),
                    observed: shipment.status
                )
            )
        }
        // (A rejected or cancelled order holds nothing: no saga needs to own it.)
        for order in snapshot.orders
        where (order.status == "PENDING" || approved.contains(order.status)) && checkoutByOrder[order.id] == nil {
            violations.append(
                Violation(
                    .orphanOrder,
                    ids: ["order": order.id],
                    detail: "\(order.status) order with no checkout saga",
                    ageSeconds: age(order.updatedAt),
                    observed: order.status
                )
            )
        }

        // Money, per order: captured (not refunded) equals the total of an approved order, and nothing else.
        var capturedByOrder: [String: Int64] = [:]
        for payment in snapshot.payments {
            if payment.status == "CAPTURED" {
                capturedByOrder[payment.orderId, default: 0] += payment.amount
                totals.capturedCents += payment.amount
            }
            if payment.status == "REFUNDED" {
                totals.refundedCents += payment.amount
            }
        }
        for order in snapshot.orders where approved.contains(order.status) { totals.approvedOrderCents += order.totalCents }
        // An order's ids, with its checkout saga's where there is one (the saga a reconciliation re-drives).
        func orderIds(_ id: String) -> [String: String] {
            var ids = ["order": id]
            if let saga = checkoutByOrder[id] { ids["saga"] = saga.id }
            return ids
        }
        for order in snapshot.orders where !inFlightOrders.contains(order.id) {
            let captured = capturedByOrder[order.id] ?? 0
            if approved.contains(order.status), captured != order.totalCents {
                violations.append(
                    Violation(
                        .moneyNotConserved,
                        ids: orderIds(order.id),
                        detail: "\(order.status) order of \(order.totalCents) \(order.currency) has \(captured) captured"
                    )
                )
            } else if !approved.contains(order.status), captured > 0 {
                violations.append(
                    Violation(
                        .captureWithoutApproval,
                        ids: orderIds(order.id),
                        detail: "\(order.status) order has \(captured) \(order.currency) captured"
                    )
                )
            }
        }

        // One effect per key: one order per checkout, one payment and one shipment per order.
        func duplicates(_ what: String, _ keys: [String], by: String) {
            var counts: [String: Int] = [:]
            for key in keys where !key.isEmpty { counts[key, default: 0] += 1 }
            for (key, count) in counts where count > 1 {
                violations.append(Violation(.duplicateEffect, ids: [by: key], detail: "\(count) \(what)s for one \(by)"))
            }
        }
        duplicates("order", snapshot.orders.map(\.checkoutId), by: "checkout")
        duplicates("payment", snapshot.payments.map(\.orderId), by: "order")
        duplicates("shipment", snapshot.shipments.map(\.orderId), by: "order")

        // Feeds: dead letters, and consumers far behind.
        for feed in snapshot.feeds {
            if feed.deadLetters > 0 {
                violations.append(
                    Violation(
                        .deadLetters,
                        ids: ["consumer": feed.consumer],
                        detail: "\(feed.deadLetters) dead-lettered event(s) from the \(feed.feed) feed"
                    )
                )
            }
            if feed.lag > 0, Double(feed.oldestUnconsumedSeconds) > limits.lagLimit {
                violations.append(
                    Violation(
                        .consumerLagging,
                        ids: ["consumer": feed.consumer],
                        detail: "\(feed.lag) event(s) behind the \(feed.feed) feed",
                        ageSeconds: feed.oldestUnconsumedSeconds
                    )
                )
            }
        }

        totals.orders = snapshot.orders.count
        totals.reservations = snapshot.reservations.count
        totals.payments = snapshot.payments.count
        totals.shipments = snapshot.shipments.count
        totals.skus = snapshot.stock.count
        return (violations, totals)
    }
}

extension AuditLimits {
    /// `AUDIT_STUCK_AFTER` (default 120s) and `AUDIT_LAG_LIMIT` (default 60s).
    public init(environment: Environment) throws {
        self.init(
            stuckAfter: try environment.get("AUDIT_STUCK_AFTER", default: Duration.seconds(120)).seconds,
            lagLimit: try environment.get("AUDIT_LAG_LIMIT", default: Duration.seconds(60)).seconds
        )
    }
}
