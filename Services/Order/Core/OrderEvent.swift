import Contracts
import Foundation
import HTTP
import Messaging

/// One event of an order's stream, with its payload in the newest version.
public enum OrderEvent: Equatable, Sendable {
    case created(OrderEvents.Created)
    case approved(OrderEvents.Approved)
    case rejected(OrderEvents.Rejected)
    case cancelled(OrderEvents.Cancelled)
    case paymentChanged(OrderEvents.PaymentChanged)
    case shipmentChanged(OrderEvents.ShipmentChanged)

    /// The type name stored and published.
    public var type: String {
        switch self {
        case .created: return OrderEvents.Created.type
        case .approved: return OrderEvents.Approved.type
        case .rejected: return OrderEvents.Rejected.type
        case .cancelled: return OrderEvents.Cancelled.type
        case .paymentChanged: return OrderEvents.PaymentChanged.type
        case .shipmentChanged: return OrderEvents.ShipmentChanged.type
        }
    }

    /// The version of the payload this code writes.
    public var version: Int {
        switch self {
        case .created: return OrderEvents.Created.version
        case .approved: return OrderEvents.Approved.version
        case .rejected: return OrderEvents.Rejected.version
        case .cancelled: return OrderEvents.Cancelled.version
        case .paymentChanged: return OrderEvents.PaymentChanged.version
        case .shipmentChanged: return OrderEvents.ShipmentChanged.version
        }
    }

    /// The payload as JSON text (sorted keys, so equal events are stored as equal text).
    public func encodedData() throws -> String {
        let bytes: [UInt8]
        switch self {
        case .created(let payload): bytes = try JSON.encode(payload)
        case .approved(let payload): bytes = try JSON.encode(payload)
        case .rejected(let payload): bytes = try JSON.encode(payload)
        case .cancelled(let payload): bytes = try JSON.encode(payload)
        case .paymentChanged(let payload): bytes = try JSON.encode(payload)
        case .shipmentChanged(let payload): bytes = try JSON.encode(payload)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Older payload versions still readable, each step to the next version.
    public static let upcaster: EventUpcaster = {
        var upcaster = EventUpcaster()
        // v1 had `items` with `priceCents`, no total, and every order was in euros.
        upcaster.register(OrderEvents.Created.type, from: 1, as: OrderEventsV1.Created.self) { old in
            let lines = old.items.map { OrderAPI.Line(sku: $0.sku, quantity: $0.quantity, unitPriceCents: $0.priceCents) }
            return OrderEvents.Created(
                customerId: old.customerId,
                checkoutId: old.checkoutId,
                lines: lines,
                totalCents: lines.reduce(0) { $0 + $1.quantity * $1.unitPriceCents },
                currency: "EUR"
            )
        }
        return upcaster
    }()

    /// Reads a stored event, upcasting an older version first.
    public static func decode(type: String, version: Int, data: String) throws -> OrderEvent {
        let (upcastVersion, text) = try upcaster.upcast(type: type, version: version, data: data)
        let decoder = JSON.decoder()
        let bytes = Data(text.utf8)
        func payload<T: Decodable>(_: T.Type, current: Int) throws -> T {
            guard upcastVersion == current else { throw OrderError.unknownEvent(type, upcastVersion) }
            return try decoder.decode(T.self, from: bytes)
        }
        switch type {
        case OrderEvents.Created.type: return .created(try payload(OrderEvents.Created.self, current: OrderEvents.Created.version))
        case OrderEvents.Approved.type: return .approved(try payload(OrderEvents.Approved.self, current: OrderEvents.Approved.version))
        case OrderEvents.Rejected.type: return .rejected(try payload(OrderEvents.Rejected.self, current: OrderEvents.Rejected.version))
        case OrderEvents.Cancelled.type: return .cancelled(try payload(OrderEvents.Cancelled.self, current: OrderEvents.Cancelled.version))
        case OrderEvents.PaymentChanged.type:
            return .paymentChanged(try payload(OrderEvents.PaymentChanged.self, current: OrderEvents.PaymentChanged.version))
        case OrderEvents.ShipmentChanged.type:
            return .shipmentChanged(try payload(OrderEvents.ShipmentChanged.self, current: OrderEvents.ShipmentChanged.version))
        default: throw OrderError.unknownEvent(type, version)
        }
    }
}
