/// Wire types of the order service (`/v1/orders`).
public enum OrderAPI {
    /// `POST /v1/orders`: a PENDING order, priced by the order service from the inventory catalog.
    public struct Create: Codable, Sendable {
        public var orderId: String
        public var customerId: String
        public var checkoutId: String
        public var items: [Item]
        /// Screen the order for fraud before creating it (checkout saga version 3): a refused order is not
        /// created (`422 fraud_suspected`).
        public var screen: Bool?

        public init(orderId: String, customerId: String, checkoutId: String, items: [Item], screen: Bool? = nil) {
            self.orderId = orderId
            self.customerId = customerId
            self.checkoutId = checkoutId
            self.items = items
            self.screen = screen
        }
    }

    /// `POST /v1/orders/{id}/reject`.
    public struct Reject: Codable, Sendable {
        public var reason: String
        public init(reason: String) { self.reason = reason }
    }

    public struct Line: Codable, Sendable, Equatable {
        public var sku: String
        public var quantity: Int64
        public var unitPriceCents: Int64

        public init(sku: String, quantity: Int64, unitPriceCents: Int64) {
            self.sku = sku
            self.quantity = quantity
            self.unitPriceCents = unitPriceCents
        }
    }

    /// `POST /v1/orders/{id}/approve`: the saga passes the captured payment and the scheduled shipment, so
    /// the approved order shows them at once (the feeds bring later changes). Both optional.
    public struct Approve: Codable, Sendable {
        public var paymentId: String?
        public var shipmentId: String?
        public init(paymentId: String?, shipmentId: String?) {
            self.paymentId = paymentId
            self.shipmentId = shipmentId
        }
    }

    /// `POST /v1/orders/{id}/cancel`: the last step of the cancellation saga.
    public struct Cancel: Codable, Sendable {
        public var reason: String
        public init(reason: String) { self.reason = reason }
    }

    /// Another service's entity as the order knows it: its id and last status seen.
    public struct Ref: Codable, Sendable, Equatable {
        public var id: String
        public var status: String
        public init(id: String, status: String) {
            self.id = id
            self.status = status
        }
    }

    /// An order: `PENDING`, `APPROVED`, `REJECTED` (with a reason), `CANCELLED`, `SHIPPED`, `DELIVERED`.
    /// `payment` and `shipment` are what the order service learnt from the payment and shipping feeds;
    /// `version` is the number of events in the order's stream.
    public struct Order: Codable, Sendable, Equatable {
        public var id: String
        public var customerId: String
        public var checkoutId: String
        public var status: OrderStatus
        public var reason: String?
        public var items: [Line]
        public var totalCents: Int64
        public var currency: String
        public var payment: Ref?
        public var shipment: Ref?
        public var version: Int?
        public var createdAt: String
        public var updatedAt: String?

        public init(
            id: String,
            customerId: String,
            checkoutId: String,
            status: OrderStatus,
            reason: String?,
            items: [Line],
            totalCents: Int64,
            currency: String,
            payment: Ref? = nil,
            shipment: Ref? = nil,
            version: Int? = nil,
            createdAt: String,
            updatedAt: String? = nil
        ) {
            self.id = id
            self.customerId = customerId
            self.checkoutId = checkoutId
            self.status = status
            self.reason = reason
            self.items = items
            self.totalCents = totalCents
            self.currency = currency
            self.payment = payment
            self.shipment = shipment
            self.version = version
            self.createdAt = createdAt
            self.updatedAt = updatedAt
        }
    }

    /// The answer of `POST /v1/orders/{id}/screen` when the order passes (a refusal is 422 `fraud_suspected`).
    public struct Screening: Codable, Sendable {
        public var orderId: String
        public var verdict: String
        public init(orderId: String, verdict: String) {
            self.orderId = orderId
            self.verdict = verdict
        }
    }
}
