import AuditorCore
import Contracts
import Foundation
import Testing

/// The auditor's rules on hand-made snapshots: no network, no database, the time passed in.
@Suite struct ConsistencyRulesTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    var recently: String { stamp(now.addingTimeInterval(-5)) }
    var longAgo: String { stamp(now.addingTimeInterval(-3600)) }

    func stamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    func saga(_ n: Int, _ status: String, kind: String = "checkout", updatedAt: String? = nil) -> ReconciliationAPI.Saga {
        ReconciliationAPI.Saga(
            id: kind == "checkout" ? "c\(n)" : "x\(n)",
            kind: kind,
            status: status,
            customerId: "alice",
            orderId: "o\(n)",
            checkoutId: "c\(n)",
            paymentId: "p\(n)",
            shipmentId: "s\(n)",
            totalCents: 2000,
            failureCode: nil,
            createdAt: updatedAt ?? recently,
            updatedAt: updatedAt ?? recently,
            succeeded: ["order.create:do": 1]
        )
    }

    func effect(_ id: String, _ status: String, order: String = "", amount: Int64 = 2000) -> ReconciliationAPI.Effect {
        ReconciliationAPI.Effect(
            id: id,
            orderId: order,
            status: status,
            amount: amount,
            currency: "EUR",
            createdAt: recently,
            updatedAt: recently
        )
    }

    func order(_ n: Int, _ status: String) -> ReconciliationAPI.Order {
        ReconciliationAPI.Order(
            id: "o\(n)",
            customerId: "alice",
            checkoutId: "c\(n)",
            status: status,
            reason: nil,
            totalCents: 2000,
            currency: "EUR",
            createdAt: recently,
            updatedAt: recently
        )
    }

    /// One completed checkout of 2 mugs out of 10, everything in agreement.
    func consistent() -> AuditSnapshot {
        var snapshot = AuditSnapshot()
        snapshot.stock = [ReconciliationAPI.Stock(sku: "MUG", received: 10, available: 8, reserved: 0, held: 0, committed: 2, restocked: 0)]
        snapshot.reservations = [effect("c1", "COMMITTED", amount: 2)]
        snapshot.payments = [effect("p1", "CAPTURED", order: "o1")]
        snapshot.shipments = [effect("s1", "SCHEDULED", order: "o1", amount: 0)]
        snapshot.orders = [order(1, "APPROVED")]
        snapshot.sagas = [saga(1, "COMPLETED")]
        return snapshot
    }

    func kinds(_ snapshot: AuditSnapshot) -> [Violation.Kind] {
        ConsistencyRules.evaluate(snapshot, now: now, limits: AuditLimits()).violations.map(\.kind)
    }

    @Test func aConsistentSystemHasNoViolation() {
        let (violations, totals) = ConsistencyRules.evaluate(consistent(), now: now, limits: AuditLimits())
        #expect(violations.isEmpty)
        #expect(totals.capturedCents == 2000 && totals.approvedOrderCents == 2000)
    }

    @Test func stockThatDoesNotAddUpIsReported() {
        var snapshot = consistent()
        snapshot.stock[0].available = 9
        #expect(kinds(snapshot) == [.stockNotConserved])
        snapshot = consistent()
        snapshot.stock[0].reserved = 1
        #expect(kinds(snapshot) == [.reservedCounterMismatch])
    }

    @Test func aCompletedSagaWhosePaymentCameBackFromBeforeTheCaptureDisagrees() {
        var snapshot = consistent()
        snapshot.payments[0].status = "AUTHORIZED"
        let violations = ConsistencyRules.evaluate(snapshot, now: now, limits: AuditLimits()).violations
        #expect(violations.map(\.kind).contains(.participantDisagrees))
        #expect(violations.map(\.kind).contains(.moneyNotConserved))
        #expect(violations.first { $0.kind == .participantDisagrees }?.ids["payment"] == "p1")
        #expect(violations.first { $0.kind == .moneyNotConserved }?.ids["saga"] == "c1")
    }

    /// The order read before the saga finished: a disagreement of the order itself (until a second pass).
    @Test func aFinishedSagaWhoseOrderIsBehindDisagrees() {
        var snapshot = consistent()
        snapshot.orders[0].status = "PENDING"
        let violations = ConsistencyRules.evaluate(snapshot, now: now, limits: AuditLimits()).violations
        let order = violations.first { $0.kind == .participantDisagrees }
        #expect(order?.ids == ["saga": "c1", "order": "o1"])
        #expect(order?.observed == "PENDING")
    }

    @Test func anInFlightSagaIsNotAViolationButAStuckOneIs() {
        var snapshot = consistent()
        snapshot.sagas[0].status = "RUNNING"
        snapshot.orders[0].status = "PENDING"
        snapshot.reservations[0].status = "RESERVED"
        snapshot.stock[0] = ReconciliationAPI.Stock(
            sku: "MUG",
            received: 10,
            available: 8,
            reserved: 2,
            held: 2,
            committed: 0,
            restocked: 0
        )
        #expect(kinds(snapshot).isEmpty)
        snapshot.sagas[0].updatedAt = longAgo
        #expect(kinds(snapshot) == [.sagaStuck])
    }

    @Test func failedSagasAreListed() {
        var snapshot = consistent()
        snapshot.sagas[0].status = "FAILED"
        #expect(kinds(snapshot) == [.sagaFailed])
    }

    @Test func effectsNoSagaOwnsAreOrphans() {
        var snapshot = consistent()
        snapshot.sagas = []
        let found = Set(kinds(snapshot))
        #expect(found == [.orphanReservation, .orphanCapture, .orphanShipment, .orphanOrder])
        snapshot.payments[0].status = "AUTHORIZED"
        snapshot.orders[0].status = "PENDING"
        snapshot.reservations[0].status = "RESERVED"
        #expect(Set(kinds(snapshot)).isSuperset(of: [.orphanAuthorization, .orphanReservation, .orphanOrder]))
    }

    @Test func aCaptureForAnOrderThatIsNotApprovedIsReported() {
        var snapshot = consistent()
        snapshot.sagas[0].status = "COMPENSATED"
        snapshot.orders[0].status = "REJECTED"
        snapshot.reservations[0].status = "RELEASED"
        snapshot.shipments[0].status = "CANCELLED"
        snapshot.stock[0] = ReconciliationAPI.Stock(
            sku: "MUG",
            received: 10,
            available: 10,
            reserved: 0,
            held: 0,
            committed: 0,
            restocked: 0
        )
        #expect(Set(kinds(snapshot)) == [.captureWithoutApproval, .participantDisagrees])
    }

    @Test func aCancelledOrderMustBeRefundedRestockedAndCancelledEverywhere() {
        var snapshot = consistent()
        snapshot.sagas.append(saga(1, "COMPLETED", kind: "cancellation"))
        snapshot.orders[0].status = "CANCELLED"
        snapshot.reservations[0].status = "RESTOCKED"
        snapshot.payments[0].status = "REFUNDED"
        snapshot.shipments[0].status = "CANCELLED"
        snapshot.stock[0] = ReconciliationAPI.Stock(
            sku: "MUG",
            received: 10,
            available: 10,
            reserved: 0,
            held: 0,
            committed: 2,
            restocked: 2
        )
        #expect(kinds(snapshot).isEmpty)
        snapshot.payments[0].status = "CAPTURED"
        #expect(Set(kinds(snapshot)) == [.participantDisagrees, .captureWithoutApproval])
    }

    @Test func twoEffectsForOneKeyAreDuplicates() {
        var snapshot = consistent()
        snapshot.payments.append(effect("p9", "VOIDED", order: "o1"))
        #expect(kinds(snapshot) == [.duplicateEffect])
        snapshot = consistent()
        snapshot.sagas[0].succeeded["payment.capture:do"] = 2
        #expect(kinds(snapshot) == [.duplicateEffect])
    }

    @Test func deadLettersAndALaggingConsumerAreReported() {
        var snapshot = consistent()
        snapshot.feeds = [
            FeedLag(
                consumer: "order.payments",
                feed: "payment",
                service: "order",
                head: 10,
                cursor: 10,
                oldestUnconsumedSeconds: 0,
                deadLetters: 1
            ),
            FeedLag(
                consumer: "order.shipments",
                feed: "shipping",
                service: "order",
                head: 10,
                cursor: 4,
                oldestUnconsumedSeconds: 5,
                deadLetters: 0
            ),
        ]
        #expect(kinds(snapshot) == [.deadLetters])
        snapshot.feeds[1].oldestUnconsumedSeconds = 600
        #expect(kinds(snapshot) == [.deadLetters, .consumerLagging])
    }

    @Test func theTextReportNamesEachViolation() {
        let violation = Violation(.orphanAuthorization, ids: ["payment": "p1"], detail: "AUTHORIZED payment", ageSeconds: 7)
        let report = ConsistencyReport(
            generatedAt: "now",
            violations: [violation],
            failedSagas: [],
            feeds: [],
            totals: .init(),
            durationMs: 3
        )
        #expect(!report.ok)
        #expect(report.text.contains("VIOLATION orphan_authorization payment=p1 age 7 s"))
    }
}
