/// Wire types of the inventory service (`/v1/products`, `/v1/reservations`).
public enum InventoryAPI {
    /// A catalog entry with its price and the stock that can still be reserved.
    public struct Product: Codable, Sendable, Equatable {
        public var sku: String
        public var name: String
        public var priceCents: Int64
        public var currency: String
        public var available: Int64

        public init(sku: String, name: String, priceCents: Int64, currency: String, available: Int64) {
            self.sku = sku
            self.name = name
            self.priceCents = priceCents
            self.currency = currency
            self.available = available
        }
    }

    /// `POST /v1/products`: `{sku, name, priceCents, currency, stock}`.
    public struct CreateProduct: Codable, Sendable {
        public var sku: String
        public var name: String
        public var priceCents: Int64
        public var currency: String
        public var stock: Int64

        public init(sku: String, name: String, priceCents: Int64, currency: String, stock: Int64) {
            self.sku = sku
            self.name = name
            self.priceCents = priceCents
            self.currency = currency
            self.stock = stock
        }
    }

    /// `PUT /v1/products/{sku}/stock`: `{available}`.
    public struct SetStock: Codable, Sendable {
        public var available: Int64
        public init(available: Int64) { self.available = available }
    }

    /// `POST /v1/reservations`: hold stock for one checkout.
    /// The stock is held for inventory's `RESERVATION_TTL` and then released by inventory itself, unless
    /// `holdUntilCommit` (the checkout saga's version 1, which has no `inventory.hold` before its pivot) or
    /// until `POST /v1/reservations/{id}/hold` makes the hold last until commit or release.
    public struct Reserve: Codable, Sendable {
        public var reservationId: String
        public var items: [Item]
        public var holdUntilCommit: Bool?

        public init(reservationId: String, items: [Item], holdUntilCommit: Bool? = nil) {
            self.reservationId = reservationId
            self.items = items
            self.holdUntilCommit = holdUntilCommit
        }
    }

    /// Event `inventory.reservation_expired`, version 1: inventory released a reservation whose hold ran out
    /// (its saga was abandoned or too slow); the stock is back on sale.
    public struct ReservationExpired: Codable, Sendable, Equatable {
        public static let type = "inventory.reservation_expired"
        public var reservationId: String
        public var items: [Item]
        public init(reservationId: String, items: [Item]) {
            self.reservationId = reservationId
            self.items = items
        }
    }

    /// Event `inventory.product_changed`, version 1, on inventory's feed: a product's price or available stock
    /// changed (written in the transaction of the change).
    public struct ProductChanged: Codable, Sendable, Equatable {
        public static let type = "inventory.product_changed"
        public var sku: String
        public init(sku: String) { self.sku = sku }
    }

    /// A reservation and its state: `RESERVED`, `RELEASED`, `EXPIRED` (released by inventory when its hold
    /// ran out), `COMMITTED` or `RESTOCKED`; `expiresAt` while the hold is timed.
    public struct Reservation: Codable, Sendable, Equatable {
        public var reservationId: String
        public var status: ReservationStatus
        public var items: [Item]
        public var expiresAt: String?

        public init(reservationId: String, status: ReservationStatus, items: [Item], expiresAt: String? = nil) {
            self.expiresAt = expiresAt
            self.reservationId = reservationId
            self.status = status
            self.items = items
        }
    }
}

/// A line of an order or reservation.
public struct Item: Codable, Sendable, Equatable, Hashable {
    public var sku: String
    public var quantity: Int64

    public init(sku: String, quantity: Int64) {
        self.sku = sku
        self.quantity = quantity
    }
}

/// A page of a list: `{items, next}`, where `next` is the cursor of the following page.
public struct Page<Element: Codable & Sendable>: Codable, Sendable {
    public var items: [Element]
    public var next: String?

    public init(items: [Element], next: String?) {
        self.items = items
        self.next = next
    }
}
