import Contracts
import FoundationEssentials

/// Why the order service refused a command.
public enum OrderError: Error, Equatable {
    case notFound
    /// The order was rejected (a late create for an order whose rejection overtook it).
    case rejected
    /// The command does not apply in the order's status.
    case invalidState(String)
    /// The shipment left already: the order cannot be cancelled.
    case alreadyShipped
    /// A stored event of a type or version this code cannot read.
    case unknownEvent(String, Int)
}

/// An event-sourced order: its state is the replay of its events, and a command is decided on that state,
/// returning the new events (none when the command changes nothing: commands are idempotent by state).
/// Pure: no I/O, no clock; `OrderEventStore` loads and appends.
public struct OrderAggregate: Sendable, Equatable {
    /// Where the order stands on its own, before shipping progress is taken into account.
    public enum Stage: String, Sendable {
        case none = ""
        case pending = "PENDING"
        case approved = "APPROVED"
        case rejected = "REJECTED"
        case cancelled = "CANCELLED"
    }

    public let id: String
    /// The number of events applied: the stream's version, which the next append must follow.
    public private(set) var version = 0
    public private(set) var stage = Stage.none
    public private(set) var customerId = ""
    public private(set) var checkoutId = ""
    public private(set) var reason: String?
    public private(set) var lines: [OrderAPI.Line] = []
    public private(set) var totalCents: Int64 = 0
    public private(set) var currency = ""
    public private(set) var payment: OrderAPI.Ref?
    public private(set) var shipment: OrderAPI.Ref?
    public private(set) var createdAt = ""
    public private(set) var updatedAt = ""

    public init(id: String) { self.id = id }

    /// Whether any event exists for this id.
    public var exists: Bool { version > 0 }

    /// The status shown: an approved order is SHIPPED once its shipment is dispatched, DELIVERED once delivered.
    public var status: OrderStatus {
        guard stage == .approved, let shipment else { return OrderStatus(rawValue: stage.rawValue) ?? .pending }
        switch shipment.status {
        case ShipmentStatus.dispatched.rawValue: return .shipped
        case ShipmentStatus.delivered.rawValue: return .delivered
        default: return .approved
        }
    }

    // MARK: Replay

    /// Applies one stored event (`occurredAt` as stored text, so a replay reproduces the same state).
    public mutating func apply(_ event: OrderEvent, occurredAt: String) {
        version += 1
        if createdAt.isEmpty { createdAt = occurredAt }
        updatedAt = occurredAt
        switch event {
        case .created(let created):
            stage = .pending
            customerId = created.customerId
            checkoutId = created.checkoutId
            lines = created.lines
            totalCents = created.totalCents
            currency = created.currency
        case .approved(let approved):
            stage = .approved
            if let paymentId = approved.paymentId { payment = Self.advance(payment, id: paymentId, to: "CAPTURED", rank: Self.paymentRank) }
            if let shipmentId = approved.shipmentId {
                shipment = Self.advance(shipment, id: shipmentId, to: "SCHEDULED", rank: Self.shipmentRank)
            }
        case .rejected(let rejected):
            stage = .rejected
            reason = rejected.reason
        case .cancelled(let cancelled):
            stage = .cancelled
            reason = cancelled.reason
        case .paymentChanged(let change):
            payment = Self.advance(payment, id: change.paymentId, to: change.status, rank: Self.paymentRank)
        case .shipmentChanged(let change):
            shipment = Self.advance(shipment, id: change.shipmentId, to: change.status, rank: Self.shipmentRank)
        }
    }

    /// The state after `events`, in order.
    public static func replay(id: String, _ events: [(OrderEvent, String)]) -> OrderAggregate {
        var order = OrderAggregate(id: id)
        for (event, occurredAt) in events { order.apply(event, occurredAt: occurredAt) }
        return order
    }

    // MARK: Commands

    /// Creates a PENDING order; a repeated create changes nothing. An id rejected first (a compensation that
    /// overtook its action) stays rejected.
    public func create(customerId: String, checkoutId: String, lines: [OrderAPI.Line], currency: String) throws -> [OrderEvent] {
        if stage == .rejected { throw OrderError.rejected }
        if exists { return [] }
        let total = lines.reduce(Int64(0)) { $0 + $1.unitPriceCents * $1.quantity }
        return [
            .created(
                OrderEvents.Created(customerId: customerId, checkoutId: checkoutId, lines: lines, totalCents: total, currency: currency)
            )
        ]
    }

    public func approve(paymentId: String?, shipmentId: String?) throws -> [OrderEvent] {
        switch stage {
        case .approved: return []
        case .pending: return [.approved(OrderEvents.Approved(paymentId: paymentId, shipmentId: shipmentId))]
        case .none: throw OrderError.notFound
        case .rejected, .cancelled: throw OrderError.invalidState(status.rawValue)
        }
    }

    /// Rejects a PENDING order. Rejecting an unknown id records the rejection (the create may still come,
    /// late, and is then refused) and succeeds.
    public func reject(reason: String) throws -> [OrderEvent] {
        switch stage {
        case .rejected: return []
        case .none, .pending: return [.rejected(OrderEvents.Rejected(reason: reason))]
        case .approved, .cancelled: throw OrderError.invalidState(status.rawValue)
        }
    }

    /// Cancels an approved order whose shipment has not left.
    public func cancel(reason: String) throws -> [OrderEvent] {
        switch stage {
        case .cancelled: return []
        case .approved:
            if let shipment, shipment.status == "DISPATCHED" || shipment.status == "DELIVERED" { throw OrderError.alreadyShipped }
            return [.cancelled(OrderEvents.Cancelled(reason: reason))]
        case .none: throw OrderError.notFound
        case .pending, .rejected: throw OrderError.invalidState(status.rawValue)
        }
    }

    /// A status from the payment feed: recorded when it moves the payment forward, otherwise nothing
    /// (an older status delivered again, or one the saga's approval already reported).
    public func recordPayment(id paymentId: String, status: String) -> [OrderEvent] {
        guard exists, Self.advance(payment, id: paymentId, to: status, rank: Self.paymentRank) != payment else { return [] }
        return [.paymentChanged(OrderEvents.PaymentChanged(paymentId: paymentId, status: status))]
    }

    /// A status from the shipping feed, recorded when it moves the shipment forward.
    public func recordShipment(id shipmentId: String, status: String) -> [OrderEvent] {
        guard exists, Self.advance(shipment, id: shipmentId, to: status, rank: Self.shipmentRank) != shipment else { return [] }
        return [.shipmentChanged(OrderEvents.ShipmentChanged(shipmentId: shipmentId, status: status))]
    }

    /// The bucket (and so the shard) the order's data lives in: its customer's.
    public var bucket: Int { OrderBuckets.bucket(orderId: id, customerId: customerId) }

    // MARK: Views

    /// The order as the API shows it.
    public var view: OrderAPI.Order {
        OrderAPI.Order(
            id: id,
            customerId: customerId,
            checkoutId: checkoutId,
            status: status,
            reason: reason,
            items: lines,
            totalCents: totalCents,
            currency: currency.isEmpty ? "XXX" : currency,
            payment: payment,
            shipment: shipment,
            version: version,
            createdAt: createdAt,
            updatedAt: updatedAt
        )
    }

    // MARK: Status order

    /// How far along a payment status is: later statuses never give way to earlier ones delivered late.
    static func paymentRank(_ status: String) -> Int {
        switch status {
        case "AUTHORIZED": return 1
        case "CAPTURED", "VOIDED", "DECLINED": return 2
        case "REFUNDED": return 3
        default: return 0
        }
    }

    static func shipmentRank(_ status: String) -> Int {
        switch status {
        case "SCHEDULED": return 1
        case "DISPATCHED", "CANCELLED": return 2
        case "DELIVERED": return 3
        default: return 0
        }
    }

    /// The reference after a reported status: taken when it is for the same entity (or the first seen) and
    /// further along; kept otherwise.
    static func advance(_ current: OrderAPI.Ref?, id: String, to status: String, rank: (String) -> Int) -> OrderAPI.Ref? {
        guard let current else { return rank(status) > 0 ? OrderAPI.Ref(id: id, status: status) : nil }
        guard current.id == id, rank(status) > rank(current.status) else { return current }
        return OrderAPI.Ref(id: id, status: status)
    }
}
