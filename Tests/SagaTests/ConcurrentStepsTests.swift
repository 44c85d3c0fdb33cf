import Contracts
import Foundation
import SagaCore
import Testing

/// Drives a saga as the runner does (`StoredSaga.advance`): each round sends `commandsToSend` together and
/// hands their replies to the interpreter in order, while it names the next command of the round as the one
/// it wants; the replies left over are dropped. Returns the rounds, as `name` of each command sent.
func driveInRounds(_ saga: inout CheckoutSaga, reply: (SagaCommand) -> SagaReply) -> [[String]] {
    var rounds: [[String]] = []
    while !saga.status.isFinished && rounds.count < 50 {
        let sent = saga.commandsToSend
        rounds.append(sent.map(\.name))
        var decision = saga.handle(reply(sent[0]), now: t0, stepDeadline: 30)
        for command in sent.dropFirst() {
            guard case .send(let next) = decision, next == command else { break }
            decision = saga.handle(reply(command), now: t0, stepDeadline: 30)
        }
    }
    return rounds
}

/// Every command applies; the order is priced.
func allApply(_ command: SagaCommand) -> SagaReply {
    command.reply == .pricedOrder ? .success(totalCents: 2400, currency: "EUR") : .success()
}

/// Version 4 sends the steps that do not wait on each other together, before the pivot as after it.
@Suite("Steps sent together (checkout version 4)")
struct ConcurrentStepsTests {
    @Test func aCheckoutTakesFourRoundsAndThePivotGoesAlone() {
        var saga = makeSaga(definition: .checkoutV4)
        let rounds = driveInRounds(&saga, reply: allApply)
        #expect(
            rounds == [
                ["order.create", "inventory.reserve"],
                ["payment.authorize", "shipping.schedule", "inventory.hold"],
                ["payment.capture"],
                ["inventory.commit", "order.approve"],
            ]
        )
        #expect(saga.status == .completed)
        #expect(saga.totalCents == 2400)
        #expect(saga.timeline.map(\.step) == SagaDefinition.checkoutV4.steps.map(\.action))
        #expect(saga.timeline.allSatisfy { $0.status == .succeeded })
        // Keys name steps, as from version 2: a step sent with another keeps its own.
        var keys = makeSaga(definition: .checkoutV4)
        #expect(keys.commandsToSend.map(\.idempotencyKey) == ["s1:order.create:do", "s1:inventory.reserve:do"])
        _ = keys.handle(.success(totalCents: 2400, currency: "EUR"), now: t0, stepDeadline: 30)
        #expect(keys.commandsToSend.map(\.idempotencyKey) == ["s1:inventory.reserve:do"], "what is left of the round")
    }

    /// The shipment waits for the order's creation: the order service drops a shipping event about an order
    /// it does not hold yet, so a shipment scheduled beside the order's creation could go unseen.
    @Test func theShipmentIsScheduledOnlyOnceTheOrderExists() {
        let steps = SagaDefinition.checkoutV4.steps
        let schedule = steps.firstIndex { $0.action == "shipping.schedule" }!
        let create = steps.firstIndex { $0.action == "order.create" }!
        let roundStart = steps[...schedule].lastIndex { !$0.withPrevious }!
        #expect(roundStart > create)
        // And the payment is authorised once the order is priced.
        let authorize = steps.firstIndex { $0.action == "payment.authorize" }!
        #expect(!steps[authorize].withPrevious)
    }

    @Test func aDeclinedPaymentCompensatesWhatWasSentWithIt() {
        var saga = makeSaga(definition: .checkoutV4)
        let rounds = driveInRounds(&saga) { command in
            command.name == "payment.authorize" ? .refused(code: "payment_declined", detail: "declined") : allApply(command)
        }
        // The shipment and the hold went out with the authorisation; their replies are not read, so each may
        // have applied: the shipment is cancelled and the held stock released (a hold has no compensation of
        // its own: the release takes back what it held). The refused authorisation is not voided.
        #expect(
            rounds == [
                ["order.create", "inventory.reserve"],
                ["payment.authorize", "shipping.schedule", "inventory.hold"],
                ["shipping.cancel"], ["inventory.release"], ["order.reject"],
            ]
        )
        #expect(saga.status == .compensated)
        #expect(saga.failureCode == "payment_declined")
    }

    @Test func aRefusalLaterInTheRoundKeepsWhatCameBeforeItAndWhatCameAfter() {
        var saga = makeSaga(definition: .checkoutV4)
        let rounds = driveInRounds(&saga) { command in
            command.name == "shipping.schedule" ? .refused(code: "undeliverable", detail: "no") : allApply(command)
        }
        // The authorisation applied (read before the refusal): voided. The hold went with it: released with
        // the reservation. The refused shipment is not cancelled.
        #expect(rounds.dropFirst(2).map { $0 } == [["payment.void"], ["inventory.release"], ["order.reject"]])
        #expect(saga.status == .compensated)
        #expect(saga.failureCode == "undeliverable")
    }

    @Test func aRefusalInTheFirstRoundUndoesOnlyWhatMayHaveApplied() {
        // Out of stock: the order was created (its reply came first), so it is rejected.
        var outOfStock = makeSaga(definition: .checkoutV4)
        let stockRounds = driveInRounds(&outOfStock) { command in
            command.name == "inventory.reserve" ? .refused(code: "out_of_stock", detail: "MUG") : allApply(command)
        }
        #expect(stockRounds == [["order.create", "inventory.reserve"], ["order.reject"]])
        #expect(outOfStock.status == .compensated)
        // A suspected fraud: no order was created, but the reservation went out with it and is released.
        var fraud = makeSaga(definition: .checkoutV4)
        let fraudRounds = driveInRounds(&fraud) { command in
            command.name == "order.create" ? .refused(code: "fraud_suspected", detail: "review") : allApply(command)
        }
        #expect(fraudRounds == [["order.create", "inventory.reserve"], ["inventory.release"]])
        #expect(fraud.status == .compensated)
        #expect(fraud.failureCode == "fraud_suspected")
    }

    @Test func aStepPastItsDeadlineCompensatesItselfAndTheStepsSentWithIt() {
        var saga = makeSaga(definition: .checkoutV4)
        _ = saga.handle(.success(totalCents: 2400, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        #expect(saga.commandsToSend.map(\.name) == ["payment.authorize", "shipping.schedule", "inventory.hold"])
        // Before the deadline a technical failure sends the round again (same keys).
        #expect(saga.handle(.failure("timeout"), now: t0, stepDeadline: 30) == .retry(saga.pendingCommand!, attempt: 1))
        #expect(saga.commandsToSend.map(\.name) == ["payment.authorize", "shipping.schedule", "inventory.hold"])
        // Past it, the authorisation and everything sent with it may have applied.
        var decisions = [saga.handle(.failure("timeout"), now: t0.addingTimeInterval(31), stepDeadline: 30)]
        while case .send = decisions.last! { decisions.append(saga.handle(.success(), now: t0.addingTimeInterval(31), stepDeadline: 30)) }
        #expect(
            commands(decisions) == [
                "shipping.schedule/undo", "payment.authorize/undo", "inventory.reserve/undo", "order.create/undo", "COMPENSATED",
            ]
        )
        #expect(saga.failureCode == "service_unavailable")
    }

    @Test func pastThePivotARefusalLeavesTheSagaForAnOperator() {
        var saga = makeSaga(definition: .checkoutV4)
        let rounds = driveInRounds(&saga) { command in
            command.name == "inventory.commit" ? .refused(code: "invalid_state", detail: "no") : allApply(command)
        }
        #expect(rounds.last == ["inventory.commit", "order.approve"])
        #expect(saga.status == .failed)
    }

    /// An operator sees every step of a round in flight, and a step sent with another began (and has its
    /// deadline counted) when the round was sent, not when the interpreter came to its reply.
    @Test func aRoundShowsAsRunningAndItsStepsBeginWhenItWasSent() {
        let sent = t0.addingTimeInterval(10)
        var saga = makeSaga(definition: .checkoutV4)
        _ = saga.handle(.success(totalCents: 2400, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: sent, stepDeadline: 30)
        #expect(saga.timeline.map(\.step) == ["order.create", "inventory.reserve", "payment.authorize"])
        let shown = saga.progress.timelineWithRound
        #expect(shown.map(\.step) == ["order.create", "inventory.reserve", "payment.authorize", "shipping.schedule", "inventory.hold"])
        #expect(shown.suffix(3).allSatisfy { $0.status == .running && $0.startedAt == sent })
        #expect(saga.timeline[1].startedAt == t0, "reserve went out with the order's creation")
        // The hold's reply read 29 s after the round went out: one more second and the round is overdue.
        _ = saga.handle(.success(), now: sent.addingTimeInterval(29), stepDeadline: 30)
        _ = saga.handle(.success(), now: sent.addingTimeInterval(29), stepDeadline: 30)
        #expect(saga.timeline.last?.startedAt == sent)
        let late = saga.handle(.failure("timeout"), now: sent.addingTimeInterval(30), stepDeadline: 30)
        #expect(late == .send(saga.pendingCommand!) && saga.status == .compensating)
        // Once the saga turns back, only its own records are shown.
        #expect(saga.progress.timelineWithRound == saga.timeline)
    }

    /// The pivot goes alone: not with the step before it, nor the step after it with the pivot.
    @Test func thePivotIsNeverSentWithAnotherStep() {
        for definition in SagaDefinition.checkouts.values {
            let pivot = definition.steps.firstIndex { $0.action == definition.pivot }!
            #expect(SagaDefinition.groupingProblem(definition.steps, pivotIndex: pivot) == nil)
        }
        let steps = [
            StepDefinition("a.do", compensation: "a.undo"), StepDefinition("b.do", withPrevious: true), StepDefinition("pivot"),
            StepDefinition("c.do"), StepDefinition("d.do", withPrevious: true),
        ]
        #expect(SagaDefinition.groupingProblem(steps, pivotIndex: 2) == nil)
        var withThePivot = steps
        withThePivot[2] = StepDefinition("pivot", withPrevious: true)
        #expect(SagaDefinition.groupingProblem(withThePivot, pivotIndex: 2) == "pivot is the pivot: it cannot go with the step before it")
        var afterThePivot = steps
        afterThePivot[3] = StepDefinition("c.do", withPrevious: true)
        #expect(SagaDefinition.groupingProblem(afterThePivot, pivotIndex: 2) == "c.do cannot go with the pivot")
        #expect(SagaDefinition.groupingProblem([StepDefinition("a.do", withPrevious: true)], pivotIndex: 1) != nil)
    }

    @Test func theStateWithARoundInFlightSurvivesEncoding() throws {
        var saga = makeSaga(definition: .checkoutV4)
        _ = saga.handle(.success(totalCents: 2400, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        let decoded = try JSONDecoder().decode(CheckoutSaga.self, from: Data(saga.encodedJSON().utf8))
        #expect(decoded == saga)
        #expect(decoded.commandsToSend == saga.commandsToSend)
    }
}

/// Version 5 is version 4 without the hold: the reservation is held until commit from the start.
@Suite("Steps sent together (checkout version 5)")
struct VersionFiveTests {
    @Test func aCheckoutTakesFourRoundsAndSevenCalls() {
        var saga = makeSaga(definition: .checkoutV5)
        let rounds = driveInRounds(&saga, reply: allApply)
        #expect(
            rounds == [
                ["order.create", "inventory.reserve"],
                ["payment.authorize", "shipping.schedule"],
                ["payment.capture"],
                ["inventory.commit", "order.approve"],
            ]
        )
        #expect(saga.status == .completed)
        #expect(saga.timeline.map(\.step) == SagaDefinition.checkoutV1.steps.map(\.action), "version 1's seven steps, in its order")
        #expect(SagaDefinition.checkouts[SagaDefinition.currentCheckoutVersion] == .checkoutV5)
    }

    @Test func outOfStockIsFoundBeforeTheCardIsTouched() {
        var saga = makeSaga(definition: .checkoutV5)
        let rounds = driveInRounds(&saga) { command in
            command.name == "inventory.reserve" ? .refused(code: "out_of_stock", detail: "MUG") : allApply(command)
        }
        #expect(rounds == [["order.create", "inventory.reserve"], ["order.reject"]])
        #expect(saga.failureCode == "out_of_stock")
    }

    @Test func aDeclinedCardCancelsTheShipmentSentWithItAndReleasesTheStock() {
        var saga = makeSaga(definition: .checkoutV5)
        let rounds = driveInRounds(&saga) { command in
            command.name == "payment.authorize" ? .refused(code: "payment_declined", detail: "declined") : allApply(command)
        }
        #expect(
            rounds == [
                ["order.create", "inventory.reserve"], ["payment.authorize", "shipping.schedule"],
                ["shipping.cancel"], ["inventory.release"], ["order.reject"],
            ]
        )
        #expect(saga.status == .compensated)
    }
}
