/// Wire types of the order service (`/v1/orders`).
public enum OrderAPI {
    /// `POST /v1/orders`: a PENDING order, priced by the order service from the inventory catalog.
    public struct Create: Codable, Sendable {
        public var orderId: String
        public var customerId: String
        public var checkoutId: String
        public var items: [Item]

        public init(orderId: String, customerId: String, checkoutId: String, items: [Item]) {
            self.orderId = orderId
            self.customerId = customerId
            self.checkoutId = checkoutId
            self.items = items
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

    /// An order: `PENDING`, `APPROVED`, `REJECTED` (with a reason), `CANCELLED`, `SHIPPED`, `DELIVERED`.
    public struct Order: Codable, Sendable, Equatable {
        public var id: String
        public var customerId: String
        public var checkoutId: String
        public var status: String
        public var reason: String?
        public var items: [Line]
        public var totalCents: Int64
        public var currency: String
        public var createdAt: String

        public init(
            id: String,
            customerId: String,
            checkoutId: String,
            status: String,
            reason: String?,
            items: [Line],
            totalCents: Int64,
            currency: String,
            createdAt: String
        ) {
            self.id = id
            self.customerId = customerId
            self.checkoutId = checkoutId
            self.status = status
            self.reason = reason
            self.items = items
            self.totalCents = totalCents
            self.currency = currency
            self.createdAt = createdAt
        }
    }
}
