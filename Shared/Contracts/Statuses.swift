/// The states of the contracts' entities, one type each, so a misspelt status is a compile error and the
/// OpenAPI document's enums are these cases (`OpenAPIContractTests`). The raw values are the wire values.

/// A saga's state: `RUNNING`, `COMPENSATING`, `COMPLETED`, `COMPENSATED`, `FAILED` (a participant refused a
/// compensation, or a step past the pivot failed: an operator must look).
public enum SagaStatus: String, Codable, Sendable, CaseIterable {
    case running = "RUNNING"
    case compensating = "COMPENSATING"
    case completed = "COMPLETED"
    case compensated = "COMPENSATED"
    case failed = "FAILED"

    public var isFinished: Bool { self == .completed || self == .compensated || self == .failed }
}

/// Which saga: a checkout, or the cancellation of an approved order.
public enum SagaKind: String, Codable, Sendable, CaseIterable {
    case checkout
    case cancellation
}

/// One timeline entry's state.
public enum StepStatus: String, Codable, Sendable, CaseIterable {
    case running = "RUNNING"
    case succeeded = "SUCCEEDED"
    /// The participant refused (a business answer: out of stock, declined).
    case refused = "REFUSED"
    case failed = "FAILED"
    /// Left behind: an operator moved the saga on, or it compensated while the step was in flight.
    case abandoned = "ABANDONED"
}

/// Whether a timeline entry is a step's action or its compensation.
public enum StepAction: String, Codable, Sendable, CaseIterable {
    case action
    case compensation
}

/// An order's state.
public enum OrderStatus: String, Codable, Sendable, CaseIterable {
    case pending = "PENDING"
    case approved = "APPROVED"
    case rejected = "REJECTED"
    case cancelled = "CANCELLED"
    case shipped = "SHIPPED"
    case delivered = "DELIVERED"
}

/// A payment's state.
public enum PaymentStatus: String, Codable, Sendable, CaseIterable {
    case authorized = "AUTHORIZED"
    case captured = "CAPTURED"
    case voided = "VOIDED"
    case refunded = "REFUNDED"
    case declined = "DECLINED"
}

/// A shipment's state.
public enum ShipmentStatus: String, Codable, Sendable, CaseIterable {
    case scheduled = "SCHEDULED"
    case cancelled = "CANCELLED"
    case dispatched = "DISPATCHED"
    case delivered = "DELIVERED"
}

/// A stock reservation's state: `EXPIRED` when inventory released it because its hold ran out.
public enum ReservationStatus: String, Codable, Sendable, CaseIterable {
    case reserved = "RESERVED"
    case released = "RELEASED"
    case expired = "EXPIRED"
    case committed = "COMMITTED"
    case restocked = "RESTOCKED"
}

/// Why a checkout did not complete, and the HTTP status the public API answers it with. An open set:
/// a participant's refusal carries its own code, which the saga records as it came; the known ones are
/// named here.
public struct FailureCode: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    public static let outOfStock: FailureCode = "out_of_stock"
    public static let paymentDeclined: FailureCode = "payment_declined"
    public static let undeliverable: FailureCode = "undeliverable"
    public static let unknownSKU: FailureCode = "unknown_sku"
    public static let mixedCurrencies: FailureCode = "mixed_currencies"
    public static let fraudSuspected: FailureCode = "fraud_suspected"
    public static let serviceUnavailable: FailureCode = "service_unavailable"
    public static let cancelledByOperator: FailureCode = "cancelled_by_operator"
    public static let alreadyDispatched: FailureCode = "already_dispatched"
    public static let checkoutFailed: FailureCode = "checkout_failed"

    /// The codes a checkout can end with, each with its own status below.
    public static let known: [FailureCode] = [
        .outOfStock, .paymentDeclined, .undeliverable, .unknownSKU, .mixedCurrencies, .fraudSuspected,
        .serviceUnavailable, .cancelledByOperator, .alreadyDispatched, .checkoutFailed,
    ]

    /// The HTTP status of a checkout that ended with this code: 402 for a declined card, 422 for a request
    /// that cannot be served as it is, 503 when a service was down, 409 for a conflict with the state.
    public var httpStatus: Int {
        switch self {
        case .paymentDeclined: 402
        case .undeliverable, .unknownSKU, .mixedCurrencies, .fraudSuspected: 422
        case .serviceUnavailable: 503
        default: 409
        }
    }
}
