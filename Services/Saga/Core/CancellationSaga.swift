import Contracts
import Foundation

/// The steps of the cancellation saga, in order (DESIGN, "Cancelling an order is a second saga").
public enum CancellationStep: Int, SagaStep, CaseIterable {
    case cancelShipment = 1
    case refundPayment
    case restockInventory
    case cancelOrder

    public var name: String {
        switch self {
        case .cancelShipment: return "shipping.cancel"
        case .refundPayment: return "payment.refund"
        case .restockInventory: return "inventory.restock"
        case .cancelOrder: return "order.cancel"
        }
    }

    public var next: CancellationStep? { CancellationStep(rawValue: rawValue + 1) }
}

/// Cancelling an approved order, as a pure state machine like `CheckoutSaga`.
///
/// Cancelling the shipment comes first because it is the only step that can be refused (the parcel left):
/// a refusal there ends the saga `COMPENSATED` with nothing changed and nothing to undo. Once the shipment
/// is cancelled the saga only goes forward: refund, restock and cancel the order are retried with backoff
/// until done (each participant's answer is idempotent by key and by state). A refusal after the first step
/// leaves the saga `FAILED` for an operator; `retryFailed` resumes it where it stopped.
public struct CancellationSaga: Codable, Sendable, Equatable {
    public let id: String
    public let customerId: String
    public let orderId: String
    /// The checkout saga's id, which is also the inventory reservation's id.
    public let checkoutId: String
    public let paymentId: String
    public let shipmentId: String
    public let reason: String
    public private(set) var status: SagaStatus
    public private(set) var current: CancellationStep
    public private(set) var stepStartedAt: Date
    public private(set) var attempts = 0
    public private(set) var failureCode: String?
    public private(set) var failureDetail: String?
    public private(set) var timeline: [SagaStepRecord<CancellationStep>]

    /// The cancellation of an order has one id, so asking twice finds the first one.
    public static func id(forOrder orderId: String) -> String { "cancel-\(orderId)" }

    public init(
        customerId: String,
        orderId: String,
        checkoutId: String,
        paymentId: String,
        shipmentId: String,
        reason: String,
        now: Date
    ) {
        id = Self.id(forOrder: orderId)
        self.customerId = customerId
        self.orderId = orderId
        self.checkoutId = checkoutId
        self.paymentId = paymentId
        self.shipmentId = shipmentId
        self.reason = reason
        status = .running
        current = .cancelShipment
        stepStartedAt = now
        timeline = [.started(.cancelShipment, compensation: false, at: now)]
    }

    /// The command in progress, or nil when finished.
    public var pendingCommand: SagaCommand<CancellationStep>? {
        guard !status.isFinished else { return nil }
        return command(current)
    }

    private func command(_ step: CancellationStep) -> SagaCommand<CancellationStep> {
        SagaCommand(saga: id, step: step, compensation: false)
    }

    /// Applies a participant's reply to the step in progress. `stepDeadline` is not a limit here (every step
    /// is retried until done); it is kept for the same call shape as the checkout saga.
    public mutating func handle(_ reply: SagaReply, now: Date, stepDeadline: TimeInterval) -> SagaDecision<CancellationStep> {
        guard !status.isFinished else { return .finished(status) }
        attempts += 1
        switch reply {
        case .success:
            finishRecord(status: "SUCCEEDED", error: nil, now: now)
            guard let next = current.next else {
                status = .completed
                return .finished(.completed)
            }
            begin(next, now: now)
            return .send(command(next))
        case .refused(let code, let detail):
            finishRecord(status: "REFUSED", error: "\(code): \(detail)", now: now)
            failureCode = code
            failureDetail = detail
            // Refused at the first step: nothing changed. Later: the shipment is cancelled already, so the
            // saga cannot go back; an operator must look.
            status = current == .cancelShipment ? .compensated : .failed
            return .finished(status)
        case .failure(let message):
            timeline[timeline.count - 1].failedOnce(attempts: attempts, error: message)
            return .retry(command(current), attempt: attempts)
        }
    }

    /// An operator's retry of a `FAILED` cancellation: the step that was refused is sent again.
    public mutating func retryFailed(now: Date) -> SagaDecision<CancellationStep>? {
        guard status == .failed else { return nil }
        status = .running
        failureCode = nil
        failureDetail = nil
        begin(current, now: now)
        return .send(command(current))
    }

    private mutating func begin(_ step: CancellationStep, now: Date) {
        current = step
        attempts = 0
        stepStartedAt = now
        timeline.append(.started(step, compensation: false, at: now))
    }

    private mutating func finishRecord(status: String, error: String?, now: Date) {
        timeline[timeline.count - 1].finish(status, attempts: attempts, error: error, at: now)
    }
}
