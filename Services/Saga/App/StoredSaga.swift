import Contracts
import Foundation
import HTTP
import SagaCore
import Storage

/// A saga of either kind, as the store keeps it and the runner drives it.
enum StoredSaga: Sendable, Equatable {
    case checkout(CheckoutSaga)
    case cancellation(CancellationSaga)

    /// The `kind` column.
    var kind: String {
        switch self {
        case .checkout: return "checkout"
        case .cancellation: return "cancellation"
        }
    }

    var id: String {
        switch self {
        case .checkout(let saga): return saga.id
        case .cancellation(let saga): return saga.id
        }
    }

    var status: SagaStatus {
        switch self {
        case .checkout(let saga): return saga.status
        case .cancellation(let saga): return saga.status
        }
    }

    var customerId: String {
        switch self {
        case .checkout(let saga): return saga.customerId
        case .cancellation(let saga): return saga.customerId
        }
    }

    var orderId: String {
        switch self {
        case .checkout(let saga): return saga.orderId
        case .cancellation(let saga): return saga.orderId
        }
    }

    var failureCode: String? {
        switch self {
        case .checkout(let saga): return saga.failureCode
        case .cancellation(let saga): return saga.failureCode
        }
    }

    /// The state as stored in the `state` column.
    func encodedJSON() throws -> String {
        switch self {
        case .checkout(let saga): return saga.encodedJSON()
        case .cancellation(let saga): return String(decoding: try JSONEncoder().encode(saga), as: UTF8.self)
        }
    }

    static func decode(kind: String, state: String) throws -> StoredSaga {
        let data = Data(state.utf8)
        switch kind {
        case "cancellation": return .cancellation(try JSONDecoder().decode(CancellationSaga.self, from: data))
        default: return .checkout(try JSONDecoder().decode(CheckoutSaga.self, from: data))
        }
    }

    /// What the runner does after a step.
    enum Progress: Equatable {
        case next
        case retry(attempt: Int)
        case finished(SagaStatus)

        init<Step>(_ decision: SagaDecision<Step>) {
            switch decision {
            case .send: self = .next
            case .retry(_, let attempt): self = .retry(attempt: attempt)
            case .finished(let status): self = .finished(status)
            }
        }
    }

    /// Sends the pending command, feeds the reply to the state machine, and says what comes next.
    mutating func advance(_ participants: Participants, stepDeadline: TimeInterval) async -> Progress {
        switch self {
        case .checkout(var saga):
            guard let command = saga.pendingCommand else { return .finished(saga.status) }
            let reply = await participants.send(command, for: saga)
            let decision = saga.handle(reply, now: Date(), stepDeadline: stepDeadline)
            self = .checkout(saga)
            return Progress(decision)
        case .cancellation(var saga):
            guard let command = saga.pendingCommand else { return .finished(saga.status) }
            let reply = await participants.send(command, for: saga)
            let decision = saga.handle(reply, now: Date(), stepDeadline: stepDeadline)
            self = .cancellation(saga)
            return Progress(decision)
        }
    }

    /// An operator's retry of a `FAILED` saga; false when the saga is not failed.
    mutating func retryFailed(now: Date) -> Bool {
        switch self {
        case .checkout(var saga):
            defer { self = .checkout(saga) }
            return saga.retryFailed(now: now) != nil
        case .cancellation(var saga):
            defer { self = .cancellation(saga) }
            return saga.retryFailed(now: now) != nil
        }
    }

    /// The saga as the API shows it.
    var view: SagaAPI.Checkout {
        switch self {
        case .checkout(let saga): return saga.view
        case .cancellation(let saga): return saga.view
        }
    }
}

extension CancellationSaga {
    /// The cancellation as the API shows it (the checkout's shape, with `kind` "cancellation").
    var view: SagaAPI.Checkout {
        SagaAPI.Checkout(
            id: id,
            kind: "cancellation",
            customerId: customerId,
            orderId: orderId,
            paymentId: paymentId,
            shipmentId: shipmentId,
            status: status.rawValue,
            failureCode: failureCode,
            failureDetail: failureDetail,
            totalCents: nil,
            currency: nil,
            steps: timeline.map { record in
                SagaAPI.Step(
                    name: record.step.name,
                    action: "action",
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
