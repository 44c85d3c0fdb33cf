import Contracts
import FoundationEssentials

extension SagaDefinition {
    /// The checkout as it was first shipped: seven steps, keys by position.
    public static let checkoutV1 = SagaDefinition(
        kind: "checkout",
        version: 1,
        steps: [
            StepDefinition("order.create", compensation: "order.reject", reply: .pricedOrder),
            StepDefinition("inventory.reserve", compensation: "inventory.release"),
            StepDefinition("payment.authorize", compensation: "payment.void"),
            StepDefinition("shipping.schedule", compensation: "shipping.cancel"),
            StepDefinition("payment.capture"),
            StepDefinition("inventory.commit"),
            StepDefinition("order.approve"),
        ],
        pivot: "payment.capture",
        keysByPosition: true
    )

    /// Version 2: a fraud screen before any money moves (`order.screen`: a large first order is refused
    /// `fraud_suspected`), and the stock's hold made permanent just before the pivot (`inventory.hold`),
    /// so a reservation that expired while the saga was slow is found before any money is taken, and a saga
    /// past the pivot never finds its reservation expired. Keys name steps.
    public static let checkoutV2 = SagaDefinition(
        kind: "checkout",
        version: 2,
        steps: [
            StepDefinition("order.create", compensation: "order.reject", reply: .pricedOrder),
            StepDefinition("inventory.reserve", compensation: "inventory.release"),
            StepDefinition("order.screen"),
            StepDefinition("payment.authorize", compensation: "payment.void"),
            StepDefinition("shipping.schedule", compensation: "shipping.cancel"),
            StepDefinition("inventory.hold"),
            StepDefinition("payment.capture"),
            StepDefinition("inventory.commit"),
            // Sent with inventory.commit: neither depends on the other, and past the pivot both are retried until done.
            StepDefinition("order.approve", withPrevious: true),
        ],
        pivot: "payment.capture"
    )

    /// Version 3: the fraud screen is part of the order's creation (one call fewer; a refused order is not
    /// created, so there is nothing to compensate), inventory.commit and order.approve go together.
    public static let checkoutV3 = SagaDefinition(
        kind: "checkout",
        version: 3,
        steps: [
            StepDefinition("order.create", compensation: "order.reject", reply: .pricedOrder),
            StepDefinition("inventory.reserve", compensation: "inventory.release"),
            StepDefinition("payment.authorize", compensation: "payment.void"),
            StepDefinition("shipping.schedule", compensation: "shipping.cancel"),
            StepDefinition("inventory.hold"),
            StepDefinition("payment.capture"),
            StepDefinition("inventory.commit"),
            StepDefinition("order.approve", withPrevious: true),
        ],
        pivot: "payment.capture"
    )

    /// Version 4: version 3's steps, those that do not wait on each other sent together, in four rounds
    /// instead of seven: the order's creation with the stock's reservation; then, once the order exists and is
    /// priced, the authorisation with the shipment and the stock's hold; the capture (the pivot, alone once
    /// all of them answered); the stock's commit with the order's approval. A refusal in a round compensates
    /// what applied and what was sent with it. The shipment waits for the order: the order service follows
    /// the shipping feed, and an event about an order it does not hold yet is dropped.
    public static let checkoutV4 = SagaDefinition(
        kind: "checkout",
        version: 4,
        steps: [
            StepDefinition("order.create", compensation: "order.reject", reply: .pricedOrder),
            StepDefinition("inventory.reserve", compensation: "inventory.release", withPrevious: true),
            StepDefinition("payment.authorize", compensation: "payment.void"),
            StepDefinition("shipping.schedule", compensation: "shipping.cancel", withPrevious: true),
            StepDefinition("inventory.hold", withPrevious: true),
            StepDefinition("payment.capture"),
            StepDefinition("inventory.commit"),
            StepDefinition("order.approve", withPrevious: true),
        ],
        pivot: "payment.capture"
    )

    /// Version 5: version 4 without `inventory.hold`, seven calls instead of eight. The stock is reserved
    /// beside the order's creation as before, but held until commit or release from the start (the
    /// reservation's `holdUntilCommit`, as version 1's): version 4's hold went out one round after the
    /// reservation, milliseconds later, so all it guarded was a saga stopped between two rounds for longer
    /// than the reservation's time to live, and a saga resumes where it stopped. A saga that never comes back
    /// leaves its reservation held; the auditor reports it (`orphan_reservation`) and reconciliation releases
    /// it. Out-of-stock is still found before the card is touched.
    public static let checkoutV5 = SagaDefinition(
        kind: "checkout",
        version: 5,
        steps: checkoutV4.steps.filter { $0.action != "inventory.hold" },
        pivot: "payment.capture"
    )

    /// Every checkout definition a stored saga may name.
    public static let checkouts: [Int: SagaDefinition] = [1: checkoutV1, 2: checkoutV2, 3: checkoutV3, 4: checkoutV4, 5: checkoutV5]

    /// The version new checkouts use unless `CHECKOUT_SAGA_VERSION` says otherwise.
    public static let currentCheckoutVersion = 5
}

/// The checkout saga: its data, and where it stands in its definition. No I/O, no clock of its own (`now`
/// is passed in), so every path is tested without a network or a database; the runner persists the whole
/// value at each step boundary and drives the decisions.
public struct CheckoutSaga: Sendable, Equatable {
    public let id: String
    public let customerId: String
    public let orderId: String
    public let paymentId: String
    public let shipmentId: String
    public let items: [Item]
    public let paymentToken: String
    public let shipping: ShippingAPI.Address
    public internal(set) var totalCents: Int64?
    public internal(set) var currency: String?
    public internal(set) var progress: SagaProgress

    /// A new saga at its first step, on `definition` (the current version unless told otherwise).
    public init(
        id: String,
        customerId: String,
        orderId: String,
        paymentId: String,
        shipmentId: String,
        items: [Item],
        paymentToken: String,
        shipping: ShippingAPI.Address,
        now: Date,
        definition: SagaDefinition = SagaDefinition.checkouts[SagaDefinition.currentCheckoutVersion]!
    ) {
        self.id = id
        self.customerId = customerId
        self.orderId = orderId
        self.paymentId = paymentId
        self.shipmentId = shipmentId
        self.items = items
        self.paymentToken = paymentToken
        self.shipping = shipping
        progress = SagaProgress(definition: definition, now: now)
    }

    public var definition: SagaDefinition { progress.definition }
    public var status: SagaStatus { progress.status }
    public var failureCode: String? { progress.failureCode }
    public var failureDetail: String? { progress.failureDetail }
    public var timeline: [SagaStepRecord] { progress.timeline }

    /// The command in progress (to send first, or again after a restart), or nil when finished.
    public var pendingCommand: SagaCommand? { progress.pendingCommand(saga: id) }

    /// Applies a participant's reply to the command in progress (see `SagaProgress.handle`); a priced
    /// order's total is kept.
    public mutating func handle(_ reply: SagaReply, now: Date, stepDeadline: TimeInterval) -> SagaDecision {
        if case .success(let total?, let currency) = reply, pendingCommand?.reply == .pricedOrder {
            totalCents = total
            self.currency = currency
        }
        return progress.handle(reply, saga: id, now: now, stepDeadline: stepDeadline)
    }

    /// An operator's retry of a `FAILED` saga.
    public mutating func retryFailed(now: Date, note: String? = nil) -> SagaDecision? {
        progress.retryFailed(saga: id, now: now, note: note)
    }

    /// An operator's resume of a stuck saga.
    public mutating func resume(now: Date, note: String?) -> Bool { progress.resume(now: now, note: note) }

    /// An operator's forced compensation, before the pivot only.
    public mutating func forceCompensation(now: Date, reason: String, note: String?) -> SagaDecision? {
        progress.forceCompensation(saga: id, now: now, code: "cancelled_by_operator", detail: reason, note: note)
    }
}

extension CheckoutSaga: Codable {
    private enum Keys: String, CodingKey {
        case id, customerId, orderId, paymentId, shipmentId, items, paymentToken, shipping, totalCents, currency
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        id = try container.decode(String.self, forKey: .id)
        customerId = try container.decode(String.self, forKey: .customerId)
        orderId = try container.decode(String.self, forKey: .orderId)
        paymentId = try container.decode(String.self, forKey: .paymentId)
        shipmentId = try container.decode(String.self, forKey: .shipmentId)
        items = try container.decode([Item].self, forKey: .items)
        paymentToken = try container.decode(String.self, forKey: .paymentToken)
        shipping = try container.decode(ShippingAPI.Address.self, forKey: .shipping)
        totalCents = try container.decodeIfPresent(Int64.self, forKey: .totalCents)
        currency = try container.decodeIfPresent(String.self, forKey: .currency)
        progress = try SagaProgress(from: decoder, definitions: SagaDefinition.checkouts)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(id, forKey: .id)
        try container.encode(customerId, forKey: .customerId)
        try container.encode(orderId, forKey: .orderId)
        try container.encode(paymentId, forKey: .paymentId)
        try container.encode(shipmentId, forKey: .shipmentId)
        try container.encode(items, forKey: .items)
        try container.encode(paymentToken, forKey: .paymentToken)
        try container.encode(shipping, forKey: .shipping)
        try container.encodeIfPresent(totalCents, forKey: .totalCents)
        try container.encodeIfPresent(currency, forKey: .currency)
        try progress.encode(to: encoder)
    }
}
