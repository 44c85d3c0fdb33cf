import Contracts
import Foundation
import HTTP
import SagaCore
import ServiceKit
import Storage
import Testing

@testable import Saga

/// The saga store's log: a step boundary appends one entry and leaves the snapshot alone; a status change
/// writes the snapshot and empties the log; every read folds; a replica without the lease writes nothing.
@Suite("Saga store: the log of step boundaries")
struct SagaLogStoreTests {
    @Test func stepsAppendStatusChangesSnapshotAndReadsFold() async throws {
        // A lease that stays more than half full for the whole test, however slow the machine (with less than
        // half of it left a save renews it with a snapshot; see the second test).
        let (database, store) = try await makeStore(replica: "r1", lease: 3600)
        func rows() async throws -> (log: Int, state: String) {
            try await database.read { connection in
                (
                    Int(try connection.queryOne("SELECT COUNT(*) AS n FROM saga_log WHERE saga_id = 'c1'")!.decode("n", as: Int64.self)),
                    try connection.queryOne("SELECT state FROM sagas WHERE id = 'c1'")!.decode("state", as: String.self)
                )
            }
        }
        var checkout = sampleCheckout()
        var saved = StoredSaga.checkout(checkout)
        _ = try await store.insertOrFetch(saved)
        let snapshot = try await rows().state

        for reply in [SagaReply.success(totalCents: 1200, currency: "EUR"), .failure("503"), .success(), .success()] {
            _ = checkout.handle(reply, now: Date(), stepDeadline: 30)
            #expect(try await store.save(.checkout(checkout), previous: saved))
            saved = .checkout(checkout)
            #expect(try await store.load("c1") == saved, "the snapshot folded with the log is the saga")
        }
        let afterSteps = try await rows()
        #expect(afterSteps.log == 4 && afterSteps.state == snapshot, "four entries appended, the snapshot untouched")
        let (listed, _) = try await store.list(
            status: "RUNNING",
            after: nil,
            limit: 10,
            reads: ConsistentReads(service: "saga", database: database, replica: nil),
            request: Request(method: "GET", target: "/v1/sagas")
        )
        #expect(listed == [saved])

        // A refusal: the saga compensates, its status changes, the whole state is written and the log emptied.
        _ = checkout.handle(.refused(code: "card_declined", detail: "no"), now: Date(), stepDeadline: 30)
        #expect(checkout.status == .compensating)
        #expect(try await store.save(.checkout(checkout), previous: saved))
        saved = .checkout(checkout)
        let afterSnapshot = try await rows()
        #expect(afterSnapshot.log == 0 && afterSnapshot.state != snapshot)
        #expect(!afterSnapshot.state.contains("pm_secret"), "the snapshot keeps the token sealed")
        #expect(try await store.load("c1") == saved)

        // Another replica holds the lease now: this one's save writes nothing.
        try await database.write { try $0.execute("UPDATE sagas SET lease_owner = 'r2' WHERE id = 'c1'", []) }
        let stale = checkout
        _ = checkout.handle(.success(), now: Date(), stepDeadline: 30)
        #expect(try await store.save(.checkout(checkout), previous: .checkout(stale)) == false)
        #expect(try await rows().log == 0)
        #expect(try await store.load("c1") == saved)
        await database.close()
    }

    /// With less than half of its lease left, a save writes the snapshot (renewing the lease) instead of an
    /// entry: with a lease of zero every save does.
    @Test func aLeaseHalfGoneIsRenewedWithASnapshot() async throws {
        let (database, store) = try await makeStore(replica: "r1", lease: 0)
        var checkout = sampleCheckout()
        var saved = StoredSaga.checkout(checkout)
        _ = try await store.insertOrFetch(saved)
        for reply in [SagaReply.success(totalCents: 1200, currency: "EUR"), .success()] {
            _ = checkout.handle(reply, now: Date(), stepDeadline: 30)
            #expect(try await store.save(.checkout(checkout), previous: saved))
            saved = .checkout(checkout)
        }
        let entries = try await database.read { try $0.queryOne("SELECT COUNT(*) AS n FROM saga_log")!.decode("n", as: Int64.self) }
        #expect(entries == 0)
        #expect(try await store.load("c1") == saved)
        await database.close()
    }
}
