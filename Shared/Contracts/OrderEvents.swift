/// The order service's events: the stored truth of each order (it is event-sourced) and what its feed
/// serves. Each payload carries its type name and current version; older stored versions are upcast when
/// read (see `OrderEventsV1`).
public enum OrderEvents {
    /// `order.created`, version 2: a PENDING order priced from the catalog.
    public struct Created: Codable, Sendable, Equatable {
        public static let type = "order.created"
        public static let version = 2
        public var customerId: String
        public var checkoutId: String
        public var lines: [OrderAPI.Line]
        public var totalCents: Int64
        public var currency: String

        public init(customerId: String, checkoutId: String, lines: [OrderAPI.Line], totalCents: Int64, currency: String) {
            self.customerId = customerId
            self.checkoutId = checkoutId
            self.lines = lines
            self.totalCents = totalCents
            self.currency = currency
        }
    }

    /// `order.approved`, version 1: the checkout saga completed.
    public struct Approved: Codable, Sendable, Equatable {
        public static let type = "order.approved"
        public static let version = 1
        public var paymentId: String?
        public var shipmentId: String?

        public init(paymentId: String?, shipmentId: String?) {
            self.paymentId = paymentId
            self.shipmentId = shipmentId
        }
    }

    /// `order.rejected`, version 1: the checkout saga compensated.
    public struct Rejected: Codable, Sendable, Equatable {
        public static let type = "order.rejected"
        public static let version = 1
        public var reason: String
        public init(reason: String) { self.reason = reason }
    }

    /// `order.cancelled`, version 1: the cancellation saga refunded, restocked and cancelled the shipment.
    public struct Cancelled: Codable, Sendable, Equatable {
        public static let type = "order.cancelled"
        public static let version = 1
        public var reason: String
        public init(reason: String) { self.reason = reason }
    }

    /// `order.payment_changed`, version 1: the payment feed reported a new status for the order's payment.
    public struct PaymentChanged: Codable, Sendable, Equatable {
        public static let type = "order.payment_changed"
        public static let version = 1
        public var paymentId: String
        public var status: String
        public init(paymentId: String, status: String) {
            self.paymentId = paymentId
            self.status = status
        }
    }

    /// `order.shipment_changed`, version 1: the shipping feed reported a new status for the order's shipment
    /// (`DISPATCHED` makes the order SHIPPED, `DELIVERED` makes it DELIVERED).
    public struct ShipmentChanged: Codable, Sendable, Equatable {
        public static let type = "order.shipment_changed"
        public static let version = 1
        public var shipmentId: String
        public var status: String
        public init(shipmentId: String, status: String) {
            self.shipmentId = shipmentId
            self.status = status
        }
    }
}

/// Earlier versions of order events, as they may still be stored.
public enum OrderEventsV1 {
    /// `order.created`, version 1 (before multi-currency): lines as `items` with `priceCents`, no total,
    /// always in euros.
    public struct Created: Codable, Sendable, Equatable {
        public struct Item: Codable, Sendable, Equatable {
            public var sku: String
            public var quantity: Int64
            public var priceCents: Int64
            public init(sku: String, quantity: Int64, priceCents: Int64) {
                self.sku = sku
                self.quantity = quantity
                self.priceCents = priceCents
            }
        }
        public var customerId: String
        public var checkoutId: String
        public var items: [Item]

        public init(customerId: String, checkoutId: String, items: [Item]) {
            self.customerId = customerId
            self.checkoutId = checkoutId
            self.items = items
        }
    }
}
