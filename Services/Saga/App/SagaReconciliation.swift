import Contracts
import FoundationEssentials
import HTTP
import Logging
import SagaCore
import ServiceKit
import Storage

/// What the saga service gives the consistency auditor and the reconciliation after a restore:
/// `GET /v1/reconciliation/sagas` (every saga with its effects' ids, age and step successes) and
/// `POST /v1/sagas/{id}/redrive` (a finished saga's commands sent again with their own keys).
struct SagaReconciliation {
    let store: SagaStore
    let participants: Participants
    let logger: Logger
    /// The auditor's view goes through these (a standby, past the auditor's token).
    let reads: ConsistentReads

    func mount(on router: inout Router) {
        Reconciliation.mount("/v1/reconciliation/sagas", on: &router, reads: reads, key: \ReconciliationAPI.Saga.id) {
            connection,
            after,
            limit in
            let rows = try connection.query(
                "SELECT id, kind, state, created_at, updated_at FROM sagas WHERE id > $1 ORDER BY id LIMIT $2",
                [.text(after), .integer(Int64(limit))]
            )
            return try zip(rows, store.decodePage(rows, connection)).map { row, saga in
                let updatedAt: Date = try row.decode("updated_at")
                return saga.reconciliation(
                    createdAt: try row.decode("created_at"),
                    updatedAt: max(updatedAt, saga.lastActivity ?? updatedAt)
                )
            }
        }
        router.post("/v1/sagas/{id}/redrive") { request in
            guard let saga = try await store.load(request.parameters["id"] ?? "") else { throw HTTPError.notFound("No saga with this id.") }
            guard saga.status == .completed || saga.status == .compensated else {
                throw HTTPError(.conflict, code: "not_finished", detail: "Only a COMPLETED or COMPENSATED saga is re-driven.")
            }
            return try Response.json(await redrive(saga))
        }
    }

    /// Sends the saga's commands again, one after another, and says how each went.
    func redrive(_ saga: StoredSaga) async -> ReconciliationAPI.Redrive {
        var outcomes: [ReconciliationAPI.Redrive.Command] = []
        for command in saga.saga.redriveCommands {
            outcomes.append(outcome(command.name, command.idempotencyKey, await participants.send(command, for: saga)))
        }
        logger.notice(
            "saga re-driven",
            metadata: ["saga.id": "\(saga.id)", "saga.status": "\(saga.status.rawValue)", "commands": "\(outcomes.count)"]
        )
        return ReconciliationAPI.Redrive(sagaId: saga.id, status: saga.status.rawValue, commands: outcomes)
    }

    private func outcome(_ step: String, _ key: String, _ reply: SagaReply) -> ReconciliationAPI.Redrive.Command {
        let text: String
        switch reply {
        case .success: text = "applied"
        case .refused(let code, _): text = "refused: \(code)"
        case .failure(let why): text = "failed: \(why)"
        }
        return ReconciliationAPI.Redrive.Command(step: step, idempotencyKey: key, outcome: text)
    }
}

extension StoredSaga {
    /// The saga as the auditor reads it.
    func reconciliation(createdAt: Date, updatedAt: Date) -> ReconciliationAPI.Saga {
        let view = self.view
        let (checkoutId, succeeded): (String, [String: Int])
        switch self {
        case .checkout(let saga):
            checkoutId = saga.id
            succeeded = Redrive.successes(saga.timeline)
        case .cancellation(let saga):
            checkoutId = saga.checkoutId
            succeeded = Redrive.successes(saga.timeline)
        }
        return ReconciliationAPI.Saga(
            id: id,
            kind: kind,
            status: status.rawValue,
            customerId: customerId,
            orderId: orderId,
            checkoutId: checkoutId,
            paymentId: view.paymentId,
            shipmentId: view.shipmentId,
            totalCents: view.totalCents,
            failureCode: failureCode,
            createdAt: Timestamp.format(createdAt),
            updatedAt: Timestamp.format(updatedAt),
            succeeded: succeeded
        )
    }
}
