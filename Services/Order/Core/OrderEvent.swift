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
        return try reader.read(Array(text.utf8))
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
        let read: @Sendable ([UInt8]) throws -> OrderEvent

        init<Payload: OrderEventPayload>(_: Payload.Type, _ make: @escaping @Sendable (Payload) -> OrderEvent) {
            type = Payload.type
            version = Payload.version
            read = { make(try Payload.read($0)) }
        }
    }
}

/// An order event's payload: a `Codable` type that names its event type and current version.
public protocol OrderEventPayload: Codable, Sendable, SendableMetatype {
    static var type: String { get }
    static var version: Int { get }
    /// The payload from its stored JSON text. `JSONDecoder` unless the type reads itself faster.
    static func read(_ text: [UInt8]) throws -> Self
}

extension OrderEventPayload {
    public static func read(_ text: [UInt8]) throws -> Self { try JSON.decode(Self.self, from: text) }
}

// The events every order's stream holds read themselves with `JSONScanner`: folding an order before each
// command decoded all its events with `JSONDecoder`, 1.3 % of the whole system's CPU under checkout load
// (a quarter of the order service's writer thread). Same rules as the decoder: members in any order,
// unknown ones skipped, the first of a repeated member kept, a missing required member or a wrong type an
// error, null an absent optional. Stricter in one thing: RFC 8259 has no trailing comma.
extension OrderEvents.Created: OrderEventPayload {
    public static func read(_ text: [UInt8]) throws -> Self {
        var scanner = JSONScanner(text)
        var customerId: String?
        var checkoutId: String?
        var lines: [OrderAPI.Line]?
        var totalCents: Int64?
        var currency: String?
        try scanner.object { scanner, key in
            switch key {
            case "customerId" where customerId == nil: customerId = try scanner.string()
            case "checkoutId" where checkoutId == nil: checkoutId = try scanner.string()
            case "totalCents" where totalCents == nil: totalCents = try scanner.integer()
            case "currency" where currency == nil: currency = try scanner.string()
            case "lines" where lines == nil:
                var read: [OrderAPI.Line] = []
                try scanner.array { scanner in read.append(try OrderAPI.Line.scan(&scanner)) }
                lines = read
            default: try scanner.skipValue()
            }
        }
        guard scanner.atEnd(), let customerId, let checkoutId, let lines, let totalCents, let currency else {
            throw JSONScanner.ScanError.malformed(at: scanner.position)
        }
        return Self(customerId: customerId, checkoutId: checkoutId, lines: lines, totalCents: totalCents, currency: currency)
    }
}

extension OrderAPI.Line {
    fileprivate static func scan(_ scanner: inout JSONScanner) throws -> Self {
        var sku: String?
        var quantity: Int64?
        var unitPriceCents: Int64?
        try scanner.object { scanner, key in
            switch key {
            case "sku" where sku == nil: sku = try scanner.string()
            case "quantity" where quantity == nil: quantity = try scanner.integer()
            case "unitPriceCents" where unitPriceCents == nil: unitPriceCents = try scanner.integer()
            default: try scanner.skipValue()
            }
        }
        guard let sku, let quantity, let unitPriceCents else { throw JSONScanner.ScanError.malformed(at: scanner.position) }
        return Self(sku: sku, quantity: quantity, unitPriceCents: unitPriceCents)
    }
}

extension OrderEvents.Approved: OrderEventPayload {
    public static func read(_ text: [UInt8]) throws -> Self {
        var scanner = JSONScanner(text)
        var paymentId: String?
        var shipmentId: String?
        try scanner.object { scanner, key in
            switch key {
            case "paymentId" where paymentId == nil: paymentId = try scanner.null() ? nil : try scanner.string()
            case "shipmentId" where shipmentId == nil: shipmentId = try scanner.null() ? nil : try scanner.string()
            default: try scanner.skipValue()
            }
        }
        guard scanner.atEnd() else { throw JSONScanner.ScanError.malformed(at: scanner.position) }
        return Self(paymentId: paymentId, shipmentId: shipmentId)
    }
}

extension OrderEvents.Rejected: OrderEventPayload {}
extension OrderEvents.Cancelled: OrderEventPayload {}

extension OrderEvents.PaymentChanged: OrderEventPayload {
    public static func read(_ text: [UInt8]) throws -> Self {
        let (paymentId, status) = try scanTwoStrings(text, "paymentId", "status")
        return Self(paymentId: paymentId, status: status)
    }
}

extension OrderEvents.ShipmentChanged: OrderEventPayload {
    public static func read(_ text: [UInt8]) throws -> Self {
        let (shipmentId, status) = try scanTwoStrings(text, "shipmentId", "status")
        return Self(shipmentId: shipmentId, status: status)
    }
}

/// An object with two required string members (others skipped).
private func scanTwoStrings(_ text: [UInt8], _ first: String, _ second: String) throws -> (String, String) {
    var scanner = JSONScanner(text)
    var values: (String?, String?) = (nil, nil)
    try scanner.object { scanner, key in
        if key == first && values.0 == nil {
            values.0 = try scanner.string()
        } else if key == second && values.1 == nil {
            values.1 = try scanner.string()
        } else {
            try scanner.skipValue()
        }
    }
    guard scanner.atEnd(), let one = values.0, let two = values.1 else { throw JSONScanner.ScanError.malformed(at: scanner.position) }
    return (one, two)
}
