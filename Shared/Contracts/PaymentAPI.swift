/// Wire types of the payment service (`/v1/payment-methods`, `/v1/payments`).
public enum PaymentAPI {
    /// `POST /v1/payment-methods`: a card to tokenise. Never stored or logged.
    public struct Card: Codable, Sendable {
        public var cardNumber: String
        public var expMonth: Int
        public var expYear: Int
        public var cvc: String

        public init(cardNumber: String, expMonth: Int, expYear: Int, cvc: String) {
            self.cardNumber = cardNumber
            self.expMonth = expMonth
            self.expYear = expYear
            self.cvc = cvc
        }
    }

    /// What payment keeps of a card: an opaque token, brand, last four digits, expiry.
    public struct PaymentMethod: Codable, Sendable, Equatable {
        public var token: String
        public var brand: String
        public var last4: String
        public var expMonth: Int
        public var expYear: Int

        public init(token: String, brand: String, last4: String, expMonth: Int, expYear: Int) {
            self.token = token
            self.brand = brand
            self.last4 = last4
            self.expMonth = expMonth
            self.expYear = expYear
        }
    }

    /// `POST /v1/payments/authorize`.
    public struct Authorize: Codable, Sendable {
        public var paymentId: String
        public var orderId: String
        public var token: String
        public var amountCents: Int64
        public var currency: String

        public init(paymentId: String, orderId: String, token: String, amountCents: Int64, currency: String) {
            self.paymentId = paymentId
            self.orderId = orderId
            self.token = token
            self.amountCents = amountCents
            self.currency = currency
        }
    }

    /// Event `payment.status_changed`, version 1, on payment's feed: a payment reached a new status.
    public struct PaymentChanged: Codable, Sendable, Equatable {
        public static let type = "payment.status_changed"
        public var paymentId: String
        public var orderId: String
        public var status: PaymentStatus
        public var amountCents: Int64
        public var currency: String

        public init(paymentId: String, orderId: String, status: PaymentStatus, amountCents: Int64, currency: String) {
            self.paymentId = paymentId
            self.orderId = orderId
            self.status = status
            self.amountCents = amountCents
            self.currency = currency
        }
    }

    /// A payment: `AUTHORIZED`, `CAPTURED`, `VOIDED`, `REFUNDED` or `DECLINED`.
    public struct Payment: Codable, Sendable, Equatable {
        public var id: String
        public var orderId: String
        public var status: PaymentStatus
        public var amountCents: Int64
        public var currency: String
        public var brand: String?
        public var last4: String?

        public init(
            id: String,
            orderId: String,
            status: PaymentStatus,
            amountCents: Int64,
            currency: String,
            brand: String?,
            last4: String?
        ) {
            self.id = id
            self.orderId = orderId
            self.status = status
            self.amountCents = amountCents
            self.currency = currency
            self.brand = brand
            self.last4 = last4
        }
    }
}
