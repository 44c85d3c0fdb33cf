/// Wire types of the shipping service (`/v1/shipments`).
public enum ShippingAPI {
    public struct Address: Codable, Sendable, Equatable {
        public var name: String
        public var line1: String
        public var city: String
        public var postalCode: String
        public var country: String

        public init(name: String, line1: String, city: String, postalCode: String, country: String) {
            self.name = name
            self.line1 = line1
            self.city = city
            self.postalCode = postalCode
            self.country = country
        }
    }

    /// `POST /v1/shipments`.
    public struct Schedule: Codable, Sendable {
        public var shipmentId: String
        public var orderId: String
        public var address: Address

        public init(shipmentId: String, orderId: String, address: Address) {
            self.shipmentId = shipmentId
            self.orderId = orderId
            self.address = address
        }
    }

    /// Event `shipping.status_changed`, version 1, on shipping's feed: a shipment reached a new status.
    public struct ShipmentChanged: Codable, Sendable, Equatable {
        public static let type = "shipping.status_changed"
        public var shipmentId: String
        public var orderId: String
        public var status: ShipmentStatus

        public init(shipmentId: String, orderId: String, status: ShipmentStatus) {
            self.shipmentId = shipmentId
            self.orderId = orderId
            self.status = status
        }
    }

    /// A shipment: `SCHEDULED`, `CANCELLED`, `DISPATCHED` or `DELIVERED`.
    public struct Shipment: Codable, Sendable, Equatable {
        public var id: String
        public var orderId: String
        public var status: ShipmentStatus
        public var country: String

        public init(id: String, orderId: String, status: ShipmentStatus, country: String) {
            self.id = id
            self.orderId = orderId
            self.status = status
            self.country = country
        }
    }
}
