import Contracts
import FoundationEssentials

extension SagaDefinition {
    /// Cancelling an approved order (DESIGN, "Cancelling an order is a second saga"). Cancelling the
    /// shipment comes first because it is the only step that can be refused (the parcel left): a refusal
    /// there ends the saga `COMPENSATED` with nothing changed and nothing to undo. From the refund on (the
    /// pivot) the saga only goes forward; every step is retried until done, a shipping outage included.
    public static let cancellationV1 = SagaDefinition(
        kind: "cancellation",
        version: 1,
        steps: [
            StepDefinition("shipping.cancel"),
            StepDefinition("payment.refund"),
            StepDefinition("inventory.restock"),
            StepDefinition("order.cancel"),
        ],
        pivot: "payment.refund",
        actionsHaveDeadline: false,
        keysByPosition: true
    )

    public static let cancellations: [Int: SagaDefinition] = [1: cancellationV1]
}

/// Cancelling an approved order, run by the same interpreter as the checkout. A refusal after the first
/// step leaves the saga `FAILED` for an operator; `retryFailed` resumes it where it stopped.
public struct CancellationSaga: Sendable, Equatable {
    public let id: String
    public let customerId: String
    public let orderId: String
    /// The checkout saga's id, which is also the inventory reservation's id.
    public let checkoutId: String
    public let paymentId: String
    public let shipmentId: String
    public let reason: String
    public internal(set) var progress: SagaProgress

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
        progress = SagaProgress(definition: .cancellationV1, now: now)
    }

    public var definition: SagaDefinition { progress.definition }
    public var status: SagaStatus { progress.status }
    public var failureCode: String? { progress.failureCode }
    public var failureDetail: String? { progress.failureDetail }
    public var timeline: [SagaStepRecord] { progress.timeline }
    public var pendingCommand: SagaCommand? { progress.pendingCommand(saga: id) }

    public mutating func handle(_ reply: SagaReply, now: Date, stepDeadline: TimeInterval) -> SagaDecision {
        progress.handle(reply, saga: id, now: now, stepDeadline: stepDeadline)
    }

    public mutating func retryFailed(now: Date, note: String? = nil) -> SagaDecision? {
        progress.retryFailed(saga: id, now: now, note: note)
    }

    /// An operator's resume of a stuck saga.
    public mutating func resume(now: Date, note: String?) -> Bool { progress.resume(now: now, note: note) }

    public mutating func forceCompensation(now: Date, reason: String, note: String?) -> SagaDecision? {
        progress.forceCompensation(saga: id, now: now, code: "cancelled_by_operator", detail: reason, note: note)
    }
}

extension CancellationSaga: Codable {
    private enum Keys: String, CodingKey {
        case id, customerId, orderId, checkoutId, paymentId, shipmentId, reason
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        id = try container.decode(String.self, forKey: .id)
        customerId = try container.decode(String.self, forKey: .customerId)
        orderId = try container.decode(String.self, forKey: .orderId)
        checkoutId = try container.decode(String.self, forKey: .checkoutId)
        paymentId = try container.decode(String.self, forKey: .paymentId)
        shipmentId = try container.decode(String.self, forKey: .shipmentId)
        reason = try container.decode(String.self, forKey: .reason)
        progress = try SagaProgress(from: decoder, definitions: SagaDefinition.cancellations)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(id, forKey: .id)
        try container.encode(customerId, forKey: .customerId)
        try container.encode(orderId, forKey: .orderId)
        try container.encode(checkoutId, forKey: .checkoutId)
        try container.encode(paymentId, forKey: .paymentId)
        try container.encode(shipmentId, forKey: .shipmentId)
        try container.encode(reason, forKey: .reason)
        try progress.encode(to: encoder)
    }
}
