import Foundation
import SagaCore
import Testing

/// The cancellation saga as a pure state machine: no network, no database.
@Suite("Cancellation saga")
struct CancellationSagaTests {
    let t0 = Date(timeIntervalSinceReferenceDate: 1000)

    func saga() -> CancellationSaga {
        CancellationSaga(customerId: "alice", orderId: "o1", checkoutId: "c1", paymentId: "p1", shipmentId: "s1", reason: "r", now: t0)
    }

    @Test func theStepsRunInOrderWithStableKeys() {
        var saga = saga()
        #expect(saga.id == "cancel-o1")
        var keys = [saga.pendingCommand!.idempotencyKey]
        var steps = [saga.pendingCommand!.step]
        while case .send(let command) = saga.handle(.success(), now: t0, stepDeadline: 30) {
            keys.append(command.idempotencyKey)
            steps.append(command.step)
        }
        #expect(steps == ["shipping.cancel", "payment.refund", "inventory.restock", "order.cancel"])
        #expect(keys == ["cancel-o1:1:do", "cancel-o1:2:do", "cancel-o1:3:do", "cancel-o1:4:do"])
        #expect(saga.status == .completed)
        #expect(saga.pendingCommand == nil)
    }

    @Test func aRefusedShipmentCancelEndsWithNothingChanged() {
        var saga = saga()
        #expect(saga.handle(.refused(code: "already_dispatched", detail: "left"), now: t0, stepDeadline: 30) == .finished(.compensated))
        #expect(saga.failureCode == "already_dispatched")
        #expect(saga.timeline.count == 1)
    }

    @Test func technicalFailuresAreRetriedPastTheDeadlineOnceTheShipmentIsCancelled() {
        var saga = saga()
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        let late = t0.addingTimeInterval(3600)
        guard case .retry(let command, let attempt) = saga.handle(.failure("503"), now: late, stepDeadline: 30) else {
            Issue.record("expected a retry")
            return
        }
        #expect(command.step == "payment.refund")
        #expect(attempt == 1)
        #expect(saga.status == .running)
    }

    @Test func aLaterRefusalNeedsAnOperatorAndRetryResumesThere() {
        var saga = saga()
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        #expect(saga.handle(.refused(code: "invalid_state", detail: "VOIDED"), now: t0, stepDeadline: 30) == .finished(.failed))
        #expect(saga.retryFailed(now: t0) == .send(saga.pendingCommand!))
        #expect(saga.pendingCommand?.step == "payment.refund")
        #expect(saga.status == .running)
        #expect(saga.failureCode == nil)
    }
}
