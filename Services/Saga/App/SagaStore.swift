import Contracts
import Foundation
import HTTP
import SagaCore
import Storage

/// Saga instances in the saga service's own database.
struct SagaStore: Sendable {
    let database: any Database

    /// Inserts a new saga, or returns the existing one with this id (a repeated start).
    func insertOrFetch(_ saga: CheckoutSaga) async throws -> (CheckoutSaga, created: Bool) {
        let state = try Self.encode(saga)
        return try await database.write { connection in
            if let row = try connection.queryOne("SELECT state FROM sagas WHERE id = $1", saga.id) {
                return (try Self.decode(try row.decode("state")), false)
            }
            let now = Date()
            try connection.execute(
                "INSERT INTO sagas (id, customer_id, status, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
                saga.id,
                saga.customerId,
                saga.status.rawValue,
                state,
                now
            )
            return (saga, true)
        }
    }

    /// Writes the saga's new state: the step boundary is durable once this returns.
    func save(_ saga: CheckoutSaga) async throws {
        let state = try Self.encode(saga)
        try await database.write { connection in
            try connection.execute(
                "UPDATE sagas SET status = $1, state = $2, updated_at = $3 WHERE id = $4",
                saga.status.rawValue,
                state,
                Date(),
                saga.id
            )
        }
    }

    func load(_ id: String) async throws -> CheckoutSaga? {
        try await database.read { connection in
            try connection.queryOne("SELECT state FROM sagas WHERE id = $1", id).map { try Self.decode(try $0.decode("state")) }
        }
    }

    /// Ids of sagas still running or compensating (resumed at start).
    func unfinished() async throws -> [String] {
        try await database.read { connection in
            try connection.query("SELECT id FROM sagas WHERE status IN ('RUNNING', 'COMPENSATING') ORDER BY id", []).map {
                try $0.decode("id")
            }
        }
    }

    func list(status: String?, after: String?, limit: Int) async throws -> Page<CheckoutSaga> {
        let rows = try await database.read { connection in
            try connection.query(
                "SELECT state FROM sagas WHERE ($1 = '' OR status = $1) AND id > $2 ORDER BY id LIMIT $3",
                status ?? "",
                after ?? "",
                limit + 1
            ).map { try $0.decode("state", as: String.self) }
        }
        let sagas = try rows.prefix(limit).map(Self.decode)
        return Page(items: sagas, next: rows.count > limit ? sagas.last?.id : nil)
    }

    static func encode(_ saga: CheckoutSaga) throws -> String {
        saga.encodedJSON()
    }

    static func decode(_ text: String) throws -> CheckoutSaga {
        try JSONDecoder().decode(CheckoutSaga.self, from: Data(text.utf8))
    }
}

extension CheckoutSaga {
    /// The saga as the API shows it.
    var view: SagaAPI.Checkout {
        SagaAPI.Checkout(
            id: id,
            customerId: customerId,
            orderId: orderId,
            paymentId: paymentId,
            shipmentId: shipmentId,
            status: status.rawValue,
            failureCode: failureCode,
            failureDetail: failureDetail,
            totalCents: totalCents,
            currency: currency,
            steps: timeline.map { record in
                SagaAPI.Step(
                    name: record.compensation ? (record.step.compensationName ?? record.step.name) : record.step.name,
                    action: record.compensation ? "compensation" : "action",
                    status: record.status,
                    attempts: record.attempts,
                    startedAt: Timestamp.format(record.startedAt),
                    finishedAt: record.finishedAt.map(Timestamp.format),
                    error: record.error
                )
            }
        )
    }
}
