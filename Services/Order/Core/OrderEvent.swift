import Contracts
import FoundationEssentials
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

    /// The payload, whichever its type.
    public var payload: any OrderEventPayload {
        switch self {
        case .created(let payload): return payload
        case .approved(let payload): return payload
        case .rejected(let payload): return payload
        case .cancelled(let payload): return payload
        case .paymentChanged(let payload): return payload
        case .shipmentChanged(let payload): return payload
        }
    }

    /// The type name stored and published.
    public var type: String { Swift.type(of: payload).type }

    /// The version of the payload this code writes.
    public var version: Int { Swift.type(of: payload).version }

    /// The payload as JSON text (sorted keys, so equal events are stored as equal text).
    public func encodedData() throws -> String {
        String(decoding: try JSON.encode(payload), as: UTF8.self)
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
        guard let reader = readers[type], reader.version == upcastVersion else { throw OrderError.unknownEvent(type, upcastVersion) }
        return try reader.read(Data(text.utf8))
    }

    /// For each type, the version this code reads and how.
    private static let readers: [String: Reader] = Dictionary(
        uniqueKeysWithValues: [
            Reader(OrderEvents.Created.self, OrderEvent.created), Reader(OrderEvents.Approved.self, OrderEvent.approved),
            Reader(OrderEvents.Rejected.self, OrderEvent.rejected), Reader(OrderEvents.Cancelled.self, OrderEvent.cancelled),
            Reader(OrderEvents.PaymentChanged.self, OrderEvent.paymentChanged),
            Reader(OrderEvents.ShipmentChanged.self, OrderEvent.shipmentChanged),
        ].map { ($0.type, $0) }
    )

    private struct Reader: Sendable {
        let type: String
        let version: Int
        let read: @Sendable (Data) throws -> OrderEvent

        init<Payload: OrderEventPayload>(_: Payload.Type, _ make: @escaping @Sendable (Payload) -> OrderEvent) {
            type = Payload.type
            version = Payload.version
            read = { make(try JSON.decoder().decode(Payload.self, from: $0)) }
        }
    }
}

/// An order event's payload: a `Codable` type that names its event type and current version.
public protocol OrderEventPayload: Codable, Sendable, SendableMetatype {
    static var type: String { get }
    static var version: Int { get }
}

extension OrderEvents.Created: OrderEventPayload {}
extension OrderEvents.Approved: OrderEventPayload {}
extension OrderEvents.Rejected: OrderEventPayload {}
extension OrderEvents.Cancelled: OrderEventPayload {}
extension OrderEvents.PaymentChanged: OrderEventPayload {}
extension OrderEvents.ShipmentChanged: OrderEventPayload {}
