import Contracts
import Foundation
import SagaCore
import Testing

/// Saga definitions as data, run by one interpreter: versions, stable names in keys, what an old stored
/// state becomes, and the operator's transitions.
@Suite("Saga definitions and their versions")
struct SagaDefinitionTests {
    @Test func versionTwoScreensBeforePaymentAndHoldsTheStockBeforeThePivotWithNamedKeys() {
        var saga = makeSaga(definition: .checkoutV2)
        #expect(saga.pendingCommand?.idempotencyKey == "s1:order.create:do")
        var decisions: [SagaDecision] = [saga.handle(.success(totalCents: 2400, currency: "EUR"), now: t0, stepDeadline: 30)]
        for _ in 0..<8 { decisions.append(saga.handle(.success(), now: t0, stepDeadline: 30)) }
        #expect(
            commands(decisions) == [
                "inventory.reserve/do", "order.screen/do", "payment.authorize/do", "shipping.schedule/do", "inventory.hold/do",
                "payment.capture/do", "inventory.commit/do", "order.approve/do", "COMPLETED",
            ]
        )
        let keys = decisions.compactMap { decision -> String? in
            if case .send(let command) = decision { return command.idempotencyKey }
            return nil
        }
        #expect(keys.first == "s1:inventory.reserve:do")
        #expect(keys.contains("s1:order.screen:do"))
        #expect(saga.totalCents == 2400)
    }

    @Test func aSuspectedFraudIsRefusedBeforeAnyMoneyMoves() {
        var saga = makeSaga(definition: .checkoutV2)
        _ = saga.handle(.success(totalCents: 500_000, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        #expect(saga.pendingCommand?.name == "order.screen")
        let decisions = [
            saga.handle(.refused(code: "fraud_suspected", detail: "first order"), now: t0, stepDeadline: 30),
            saga.handle(.success(), now: t0, stepDeadline: 30),
            saga.handle(.success(), now: t0, stepDeadline: 30),
        ]
        #expect(commands(decisions) == ["inventory.reserve/undo", "order.create/undo", "COMPENSATED"])
        #expect(saga.failureCode == "fraud_suspected")
    }

    @Test func anExpiredHoldIsFoundBeforeThePivotAndUndoesEverything() {
        var saga = makeSaga(definition: .checkoutV2)
        _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        for _ in 0..<4 { _ = saga.handle(.success(), now: t0, stepDeadline: 30) }
        #expect(saga.pendingCommand?.name == "inventory.hold")
        var decisions = [saga.handle(.refused(code: "reservation_expired", detail: "ran out"), now: t0, stepDeadline: 30)]
        for _ in 0..<4 { decisions.append(saga.handle(.success(), now: t0, stepDeadline: 30)) }
        #expect(
            commands(decisions) == [
                "shipping.schedule/undo", "payment.authorize/undo", "inventory.reserve/undo", "order.create/undo", "COMPENSATED",
            ]
        )
        #expect(saga.failureCode == "reservation_expired")
    }

    @Test func compensationsAreSentByTheirOwnNames() {
        var saga = makeSaga(definition: .checkoutV2)
        _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        guard case .send(let undo) = saga.handle(.refused(code: "undeliverable", detail: "XX"), now: t0, stepDeadline: 30) else {
            Issue.record("expected a compensation")
            return
        }
        #expect(undo.name == "payment.void")
        #expect(undo.step == "payment.authorize")
        #expect(undo.idempotencyKey == "s1:payment.authorize:undo")
    }

    @Test func aStateWrittenBeforeVersionsIsVersionOneWithTheSameKeys() throws {
        // What the saga service wrote before definitions were data: steps by position, no version.
        let legacy = """
            {"id":"s1","customerId":"alice","orderId":"o1","paymentId":"p1","shipmentId":"h1","items":[{"sku":"MUG","quantity":2}],
            "paymentToken":"tok","shipping":{"name":"A","line1":"1 Way","city":"Berlin","postalCode":"10115","country":"DE"},
            "status":"RUNNING","current":3,"applied":[1,2],"stepStartedAt":0,"attempts":1,"totalCents":2400,"currency":"EUR",
            "timeline":[{"step":1,"compensation":false,"status":"SUCCEEDED","attempts":1,"startedAt":0,"finishedAt":0},
            {"step":2,"compensation":false,"status":"SUCCEEDED","attempts":1,"startedAt":0,"finishedAt":0},
            {"step":3,"compensation":false,"status":"RUNNING","attempts":1,"startedAt":0,"error":"timeout"}]}
            """
        let saga = try JSONDecoder().decode(CheckoutSaga.self, from: Data(legacy.utf8))
        #expect(saga.definition.version == 1)
        #expect(saga.pendingCommand?.name == "payment.authorize")
        #expect(saga.pendingCommand?.idempotencyKey == "s1:3:do")
        #expect(saga.timeline.map(\.step) == ["order.create", "inventory.reserve", "payment.authorize"])
        let again = try JSONDecoder().decode(CheckoutSaga.self, from: Data(saga.encodedJSON().utf8))
        #expect(again == saga)
        #expect(again.definition.version == 1)
    }

    @Test func aSagaKeepsTheVersionItStartedWith() throws {
        for definition in [SagaDefinition.checkoutV1, .checkoutV2] {
            var saga = makeSaga(definition: definition)
            _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
            let decoded = try JSONDecoder().decode(CheckoutSaga.self, from: Data(saga.encodedJSON().utf8))
            #expect(decoded.definition.version == definition.version)
            #expect(decoded.pendingCommand == saga.pendingCommand)
            let synthesized = try JSONDecoder().decode(CheckoutSaga.self, from: JSONEncoder().encode(saga))
            #expect(synthesized == saga)
        }
    }

    @Test func anUnknownVersionIsRefusedNotGuessed() {
        let state = makeSaga().encodedJSON().replacingOccurrences(of: "\"version\":1", with: "\"version\":9")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(CheckoutSaga.self, from: Data(state.utf8)) }
    }

    @Test func everyStepIsDeclaredOnceWithItsCompensation() {
        for definition in [SagaDefinition.checkoutV1, .checkoutV2, .cancellationV1] {
            let actions = definition.steps.map(\.action)
            #expect(Set(actions).count == actions.count, "\(definition.kind) v\(definition.version)")
            if let pivot = definition.pivot { #expect(definition.index(of: pivot) != nil) }
        }
        #expect(SagaDefinition.checkoutV2.steps.first { $0.action == "payment.authorize" }?.compensation == "payment.void")
    }

    @Test func anOperatorForcesACompensationOnlyBeforeThePivot() {
        var saga = makeSaga(definition: .checkoutV2)
        _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        // Stuck at the screen: the operator gives up on it.
        let forced = saga.forceCompensation(now: t0, reason: "customer asked", note: "operator ops-1: customer asked")
        // Every compensable step before the pivot is undone, from the last: the saved state may be behind
        // the participants (forward replies are saved lazily), and an undo of what never applied does nothing.
        #expect(forced.map { commands([$0]) } == ["shipping.schedule/undo"])
        #expect(saga.status == .compensating)
        #expect(saga.timeline[2].status == .abandoned)
        #expect(saga.timeline[2].note == "operator ops-1: customer asked")
        var undone: [String] = []
        while let command = saga.pendingCommand {
            undone.append(command.name)
            _ = saga.handle(.success(), now: t0, stepDeadline: 30)
        }
        #expect(undone == ["shipping.cancel", "payment.void", "inventory.release", "order.reject"])
        #expect(saga.status == .compensated)
        #expect(saga.forceCompensation(now: t0, reason: "again", note: nil) == nil)

        var past = makeSaga(definition: .checkoutV2)
        _ = past.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        for _ in 0..<5 { _ = past.handle(.success(), now: t0, stepDeadline: 30) }
        #expect(past.pendingCommand?.name == "payment.capture")
        #expect(past.forceCompensation(now: t0, reason: "too late", note: nil) == nil)
        #expect(past.status == .running)
    }

    @Test func anOperatorsRetryIsNotedOnTheTimeline() {
        var saga = makeSaga()
        _ = saga.handle(.success(totalCents: 100, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.refused(code: "out_of_stock", detail: "MUG"), now: t0, stepDeadline: 30)
        _ = saga.handle(.refused(code: "invalid_state", detail: "no"), now: t0, stepDeadline: 30)
        #expect(saga.status == .failed)
        _ = saga.retryFailed(now: t0, note: "operator ops-1: fixed the order")
        #expect(saga.timeline.last?.note == "operator ops-1: fixed the order")
        #expect(saga.retryFailed(now: t0, note: "twice") == nil)
    }

    /// Past the pivot, version 2 sends inventory.commit and order.approve together; nowhere else does a
    /// step go with another.
    @Test func onlyStepsPastThePivotGoTogether() {
        var saga = makeSaga(definition: .checkoutV2)
        var sentTogether: [[String]] = []
        var decision = saga.handle(.success(totalCents: 2400, currency: "EUR"), now: t0, stepDeadline: 30)
        while case .send = decision {
            sentTogether.append(saga.commandsToSend.map(\.name))
            decision = saga.handle(.success(), now: t0, stepDeadline: 30)
        }
        #expect(
            sentTogether == [
                ["inventory.reserve"], ["order.screen"], ["payment.authorize"], ["shipping.schedule"], ["inventory.hold"],
                ["payment.capture"], ["inventory.commit", "order.approve"], ["order.approve"],
            ]
        )
        // The second command is the one the interpreter names next once the first succeeds.
        var atCommit = makeSaga(definition: .checkoutV2)
        _ = atCommit.handle(.success(totalCents: 2400, currency: "EUR"), now: t0, stepDeadline: 30)
        for _ in 0..<6 { _ = atCommit.handle(.success(), now: t0, stepDeadline: 30) }
        let together = atCommit.commandsToSend
        #expect(atCommit.handle(.success(), now: t0, stepDeadline: 30) == .send(together[1]))
        // Version 1 and a compensating saga send one command at a time.
        var v1 = makeSaga(definition: .checkoutV1)
        _ = v1.handle(.success(totalCents: 2400, currency: "EUR"), now: t0, stepDeadline: 30)
        for _ in 0..<4 { _ = v1.handle(.success(), now: t0, stepDeadline: 30) }
        #expect(v1.commandsToSend.map(\.name) == ["inventory.commit"])
        var compensating = makeSaga(definition: .checkoutV2)
        _ = compensating.handle(.success(totalCents: 2400, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = compensating.handle(.refused(code: "out_of_stock", detail: ""), now: t0, stepDeadline: 30)
        #expect(compensating.commandsToSend.map(\.name) == ["order.reject"])
    }
}
