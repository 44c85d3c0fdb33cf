import Contracts
import Foundation
import SagaCore
import Testing

/// Builds a saga at its first step (on version 1, the seven steps, unless told otherwise).
func makeSaga(now: Date = Date(timeIntervalSince1970: 0), definition: SagaDefinition = .checkoutV1) -> CheckoutSaga {
    CheckoutSaga(
        id: "s1",
        customerId: "alice",
        orderId: "o1",
        paymentId: "p1",
        shipmentId: "h1",
        items: [Item(sku: "MUG", quantity: 2)],
        paymentToken: "tok",
        shipping: ShippingAPI.Address(name: "A", line1: "1 Way", city: "Berlin", postalCode: "10115", country: "DE"),
        now: now,
        definition: definition
    )
}

/// The commands a sequence of replies produces, as `step/do` or `step/undo`.
func commands(_ decisions: [SagaDecision]) -> [String] {
    decisions.compactMap { decision in
        switch decision {
        case .send(let c), .retry(let c, _): return "\(c.step)/\(c.compensation ? "undo" : "do")"
        case .finished(let status): return status.rawValue
        }
    }
}

let t0 = Date(timeIntervalSince1970: 0)

@Suite("Checkout saga state machine (no network, no database)")
struct CheckoutSagaTests {
    @Test func happyPathRunsTheSevenStepsInOrder() {
        var saga = makeSaga()
        #expect(saga.pendingCommand?.step == "order.create")
        var decisions: [SagaDecision] = [saga.handle(.success(totalCents: 2400, currency: "EUR"), now: t0, stepDeadline: 30)]
        for _ in 0..<6 { decisions.append(saga.handle(.success(), now: t0, stepDeadline: 30)) }
        #expect(
            commands(decisions) == [
                "inventory.reserve/do", "payment.authorize/do", "shipping.schedule/do", "payment.capture/do", "inventory.commit/do",
                "order.approve/do", "COMPLETED",
            ]
        )
        #expect(saga.status == .completed)
        #expect(saga.totalCents == 2400)
        #expect(saga.timeline.count == 7)
        #expect(saga.timeline.allSatisfy { $0.status == .succeeded })
        #expect(saga.pendingCommand == nil)
    }

    @Test func outOfStockCompensatesTheOrderOnly() {
        var saga = makeSaga()
        _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        let decisions = [
            saga.handle(.refused(code: "out_of_stock", detail: "MUG"), now: t0, stepDeadline: 30),
            saga.handle(.success(), now: t0, stepDeadline: 30),
        ]
        #expect(commands(decisions) == ["order.create/undo", "COMPENSATED"])
        #expect(saga.failureCode == "out_of_stock")
        #expect(saga.status == .compensated)
    }

    @Test func declinedPaymentCompensatesInReverseOrder() {
        var saga = makeSaga()
        _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        let decisions = [
            saga.handle(.refused(code: "payment_declined", detail: "declined"), now: t0, stepDeadline: 30),
            saga.handle(.success(), now: t0, stepDeadline: 30),
            saga.handle(.success(), now: t0, stepDeadline: 30),
        ]
        #expect(commands(decisions) == ["inventory.reserve/undo", "order.create/undo", "COMPENSATED"])
    }

    @Test func undeliverableVoidsReleasesAndRejects() {
        var saga = makeSaga()
        _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        let decisions = [
            saga.handle(.refused(code: "undeliverable", detail: "XX"), now: t0, stepDeadline: 30),
            saga.handle(.success(), now: t0, stepDeadline: 30),
            saga.handle(.success(), now: t0, stepDeadline: 30),
            saga.handle(.success(), now: t0, stepDeadline: 30),
        ]
        #expect(commands(decisions) == ["payment.authorize/undo", "inventory.reserve/undo", "order.create/undo", "COMPENSATED"])
        #expect(saga.failureCode == "undeliverable")
    }

    @Test func technicalFailuresRetryUntilTheDeadlineThenCompensateTheStepToo() {
        var saga = makeSaga()
        _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        let started = t0
        #expect(
            saga.handle(.failure("503"), now: started.addingTimeInterval(1), stepDeadline: 30) == .retry(saga.pendingCommand!, attempt: 1)
        )
        #expect(
            saga.handle(.failure("timeout"), now: started.addingTimeInterval(10), stepDeadline: 30)
                == .retry(saga.pendingCommand!, attempt: 2)
        )
        let decisions = [
            saga.handle(.failure("503"), now: started.addingTimeInterval(31), stepDeadline: 30),
            saga.handle(.success(), now: t0, stepDeadline: 30),
            saga.handle(.success(), now: t0, stepDeadline: 30),
            saga.handle(.success(), now: t0, stepDeadline: 30),
        ]
        // The authorisation may have applied before its answer was lost: it is voided too.
        #expect(commands(decisions) == ["payment.authorize/undo", "inventory.reserve/undo", "order.create/undo", "COMPENSATED"])
        #expect(saga.failureCode == "service_unavailable")
    }

    @Test func afterThePivotTheSagaOnlyGoesForward() {
        var saga = makeSaga()
        _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        for _ in 0..<3 { _ = saga.handle(.success(), now: t0, stepDeadline: 30) }
        #expect(saga.pendingCommand?.step == "payment.capture")
        let late = saga.handle(.failure("503"), now: t0.addingTimeInterval(3600), stepDeadline: 30)
        #expect(late == .retry(saga.pendingCommand!, attempt: 1))
        #expect(saga.status == .running)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        #expect(
            saga.handle(.failure("503"), now: t0.addingTimeInterval(3600), stepDeadline: 30) == .retry(saga.pendingCommand!, attempt: 1)
        )
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        #expect(saga.handle(.success(), now: t0, stepDeadline: 30) == .finished(.completed))
    }

    @Test func anOutageDelaysACompensationButNeverEndsIt() {
        var saga = makeSaga()
        _ = saga.handle(.refused(code: "unknown_sku", detail: "NOPE"), now: t0, stepDeadline: 30)
        #expect(saga.status == .compensated)

        var other = makeSaga()
        _ = other.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = other.handle(.refused(code: "out_of_stock", detail: "MUG"), now: t0, stepDeadline: 30)
        #expect(other.pendingCommand?.compensation == true)
        let undo = other.pendingCommand!
        _ = other.handle(.failure("503"), now: t0.addingTimeInterval(1), stepDeadline: 30)
        // Long past the step deadline (a chaos run kept payment down longer than it): still retried.
        #expect(other.handle(.failure("connectFailed"), now: t0.addingTimeInterval(40), stepDeadline: 30) == .retry(undo, attempt: 2))
        #expect(other.handle(.failure("503"), now: t0.addingTimeInterval(86_400), stepDeadline: 30) == .retry(undo, attempt: 3))
        #expect(other.status == .compensating)
        #expect(other.handle(.success(), now: t0.addingTimeInterval(86_401), stepDeadline: 30) == .finished(.compensated))
        #expect(other.failureCode == "out_of_stock")
    }

    @Test func aRefusedCompensationLeavesTheSagaFailedAndAnOperatorRetryResumesIt() {
        var saga = makeSaga()
        _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.refused(code: "out_of_stock", detail: "MUG"), now: t0, stepDeadline: 30)
        #expect(saga.handle(.refused(code: "invalid_state", detail: "no"), now: t0, stepDeadline: 30) == .finished(.failed))
        #expect(saga.status == .failed)
        #expect(saga.pendingCommand == nil)
        let resumed = saga.retryFailed(now: t0.addingTimeInterval(100))
        #expect(commands([resumed!]) == ["order.create/undo"])
        #expect(saga.handle(.success(), now: t0, stepDeadline: 30) == .finished(.compensated))
    }

    @Test func idempotencyKeysAreStablePerStepAndDirection() {
        var saga = makeSaga()
        let first = saga.pendingCommand!
        #expect(first.idempotencyKey == "s1:1:do")
        _ = saga.handle(.failure("timeout"), now: t0, stepDeadline: 30)
        #expect(saga.pendingCommand == first)
        _ = saga.handle(.success(totalCents: 1, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.refused(code: "out_of_stock", detail: ""), now: t0, stepDeadline: 30)
        #expect(saga.pendingCommand?.idempotencyKey == "s1:1:undo")
    }

    @Test func theHandWrittenJSONDecodesToTheSameSaga() throws {
        var saga = CheckoutSaga(
            id: "s\"1",
            customerId: "alice",
            orderId: "o1",
            paymentId: "p1",
            shipmentId: "h1",
            items: [Item(sku: "MUG", quantity: 2), Item(sku: "TÉE\n", quantity: 1)],
            paymentToken: "tok",
            shipping: ShippingAPI.Address(name: "Zoë \\ \"Q\"", line1: "1 Way\t", city: "Berlin", postalCode: "10115", country: "DE"),
            now: Date(timeIntervalSince1970: 1_800_000_000.123456)
        )
        let states =
            [saga]
            + [
                SagaReply.success(totalCents: 2400, currency: "EUR"), .success(), .failure("503 \u{1}"),
                .refused(code: "payment_declined", detail: "no"),
            ]
            .map { reply -> CheckoutSaga in
                _ = saga.handle(reply, now: Date(timeIntervalSince1970: 1_800_000_001.5), stepDeadline: 30)
                return saga
            }
        for state in states {
            let decoded = try JSONDecoder().decode(CheckoutSaga.self, from: Data(state.encodedJSON().utf8))
            #expect(decoded == state)
        }
    }

    @Test func theStateSurvivesEncodingAtEveryBoundary() throws {
        var saga = makeSaga()
        _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        let decoded = try JSONDecoder().decode(CheckoutSaga.self, from: JSONEncoder().encode(saga))
        #expect(decoded == saga)
        #expect(decoded.pendingCommand == saga.pendingCommand)
    }
}
