/// Wire types of the saga service (`/v1/checkouts`, `/v1/sagas`).
public enum SagaAPI {
    /// `POST /v1/checkouts`: start the checkout saga. The card is already a payment token here.
    public struct StartCheckout: Codable, Sendable {
        public var checkoutId: String
        public var customerId: String
        public var items: [Item]
        public var paymentToken: String
        public var shipping: ShippingAPI.Address

        public init(checkoutId: String, customerId: String, items: [Item], paymentToken: String, shipping: ShippingAPI.Address) {
            self.checkoutId = checkoutId
            self.customerId = customerId
            self.items = items
            self.paymentToken = paymentToken
            self.shipping = shipping
        }
    }

    /// `POST /v1/cancellations`: cancel an approved order (its checkout saga must have completed).
    public struct StartCancellation: Codable, Sendable {
        public var orderId: String
        public var reason: String?
        public init(orderId: String, reason: String?) {
            self.orderId = orderId
            self.reason = reason
        }
    }

    /// One step of the timeline: its name, whether the action or its compensation, and how it went.
    public struct Step: Codable, Sendable, Equatable {
        public var name: String
        public var action: StepAction
        public var status: StepStatus
        public var attempts: Int
        public var startedAt: String?
        public var finishedAt: String?
        public var error: String?
        /// An operator's action here: who, and why.
        public var note: String?

        public init(
            name: String,
            action: StepAction,
            status: StepStatus,
            attempts: Int,
            startedAt: String?,
            finishedAt: String?,
            error: String?,
            note: String? = nil
        ) {
            self.note = note
            self.name = name
            self.action = action
            self.status = status
            self.attempts = attempts
            self.startedAt = startedAt
            self.finishedAt = finishedAt
            self.error = error
        }
    }

    /// A checkout saga as operators and the gateway see it. `status`: `RUNNING`, `COMPENSATING`,
    /// `COMPLETED`, `COMPENSATED`, `FAILED`; `failureCode` says why it compensated (`out_of_stock`, ...).
    public struct Checkout: Codable, Sendable, Equatable {
        public var id: String
        /// `checkout` or `cancellation` (the cancellation saga has the same shape).
        public var kind: SagaKind?
        public var customerId: String
        public var orderId: String
        public var paymentId: String
        public var shipmentId: String
        public var status: SagaStatus
        public var failureCode: FailureCode?
        public var failureDetail: String?
        public var totalCents: Int64?
        public var currency: String?
        /// The version of the saga's definition it started with (and finishes on).
        public var version: Int?
        public var stuck: Bool?
        public var steps: [Step]

        public init(
            id: String,
            kind: SagaKind? = .checkout,
            customerId: String,
            orderId: String,
            paymentId: String,
            shipmentId: String,
            status: SagaStatus,
            failureCode: FailureCode?,
            failureDetail: String?,
            totalCents: Int64?,
            currency: String?,
            version: Int? = nil,
            stuck: Bool? = nil,
            steps: [Step]
        ) {
            self.version = version
            self.stuck = stuck
            self.id = id
            self.kind = kind
            self.customerId = customerId
            self.orderId = orderId
            self.paymentId = paymentId
            self.shipmentId = shipmentId
            self.status = status
            self.failureCode = failureCode
            self.failureDetail = failureDetail
            self.totalCents = totalCents
            self.currency = currency
            self.steps = steps
        }
    }
}
