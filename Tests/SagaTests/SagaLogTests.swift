import Contracts
import Foundation
import SagaCore
import Testing

/// The saga log: each step boundary's entry, folded into the state before it, gives the state after it,
/// whatever the path (success, retries, refusals and compensation, an operator's retry).
@Suite("Saga log entries")
struct SagaLogTests {
    /// Replies that take a version 2 checkout through retries, a refusal after the reservation, its
    /// compensations, then (as a second saga) to completion.
    static let paths: [[SagaReply]] = [
        [.success(totalCents: 2400, currency: "EUR")] + Array(repeating: .success(), count: 8),
        [
            .success(totalCents: 2400, currency: "EUR"), .failure("503 from inventory"), .success(), .success(),
            .refused(code: "card_declined", detail: "Declined \"hard\""), .failure("reset"), .success(), .success(),
        ],
    ]

    @Test(arguments: paths)
    func foldingEachEntryGivesTheStateAfterIt(replies: [SagaReply]) throws {
        var saga = makeSaga(definition: .checkoutV2)
        var folded = saga
        let start = saga
        var entries: [String] = []
        for (n, reply) in replies.enumerated() {
            let before = saga
            _ = saga.handle(reply, now: t0.addingTimeInterval(Double(n) * 0.37), stepDeadline: 30)
            let entry = try #require(SagaLogEntry.json(from: before, to: saga))
            #expect(!entry.contains("tok") && !entry.contains("Berlin"), "no token or address in an entry")
            let members = try #require(try JSONSerialization.jsonObject(with: Data(entry.utf8)) as? [String: Any])
            #expect((members["timeline"] as? [Any])?.count ?? 0 <= 2, "only the changed records: the last one and a new one")
            folded = try folded.folding([entry])
            #expect(folded == saga, "after reply \(n)")
            entries.append(entry)
        }
        #expect(try start.folding(entries) == saga, "the whole log folded into the first snapshot")
        #expect(try start.folding(entries + [entries.last!]) == saga, "an entry saved twice (a retried save) folds the same")
        #expect(SagaLogEntry.json(from: saga, to: saga) == nil)
    }

    @Test func anOperatorsRetryOfAFailedSagaIsAnEntryToo() throws {
        var saga = makeSaga(definition: .checkoutV2)
        _ = saga.handle(.success(totalCents: 2400, currency: "EUR"), now: t0, stepDeadline: 30)
        _ = saga.handle(.refused(code: "out_of_stock", detail: "none left"), now: t0, stepDeadline: 30)
        let compensating = saga
        _ = saga.handle(.refused(code: "cannot_reject", detail: "no"), now: t0, stepDeadline: 30)
        #expect(saga.status == .failed)
        let failed = saga
        #expect(saga.retryFailed(now: t0.addingTimeInterval(60), note: "operator:ana fixed") != nil)
        let entries = [SagaLogEntry.json(from: compensating, to: failed)!, SagaLogEntry.json(from: failed, to: saga)!]
        #expect(try compensating.folding(entries) == saga)
    }

    @Test func aCancellationFoldsItsEntries() throws {
        var saga = CancellationSaga(
            customerId: "alice",
            orderId: "o1",
            checkoutId: "c1",
            paymentId: "p1",
            shipmentId: "s1",
            reason: "r",
            now: t0
        )
        let start = saga
        var entries: [String] = []
        while !saga.status.isFinished {
            let before = saga
            _ = saga.handle(.success(), now: t0, stepDeadline: 30)
            entries.append(SagaLogEntry.json(from: before, to: saga)!)
        }
        #expect(try start.folding(entries) == saga)
    }

    @Test func anEntryThatDoesNotFitIsRefused() {
        let saga = makeSaga(definition: .checkoutV2)
        #expect(throws: (any Error).self) { try saga.folding(["{\"from\":5,\"version\":2}"]) }
        var advanced = saga
        _ = advanced.handle(.success(totalCents: 1, currency: "EUR"), now: t0, stepDeadline: 30)
        let entry = SagaLogEntry.json(from: saga, to: advanced)!
        #expect(throws: (any Error).self, "a version 2 entry on a version 1 saga") {
            try makeSaga(definition: .checkoutV1).folding([entry])
        }
    }
}
