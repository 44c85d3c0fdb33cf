/// Wire types of the public API that the gateway itself reads or writes (the rest pass through from the
/// services, in their own contract types). `Deploy/openapi/gateway.yaml` describes each of them, and
/// `OpenAPIContractTests` checks encoded values of each against its schema there.
public enum GatewayAPI {
    /// The body of `POST /v1/checkout` (DESIGN, "Public API"): the card is a token by the time anything
    /// behind the gateway sees it.
    public struct Checkout: Codable, Sendable {
        public var items: [Item]
        public var payment: PaymentAPI.Card
        public var shipping: ShippingAPI.Address

        public init(items: [Item], payment: PaymentAPI.Card, shipping: ShippingAPI.Address) {
            self.items = items
            self.payment = payment
            self.shipping = shipping
        }
    }

    /// `201` to `POST /v1/checkout`: the order is approved, paid and its shipment scheduled.
    public struct CheckoutCompleted: Codable, Sendable, Equatable {
        public var orderId: String
        public var checkoutId: String
        public var status: OrderStatus
        public var totalCents: Int64
        public var currency: String
        public var paymentId: String
        public var shipmentId: String

        public init(
            orderId: String,
            checkoutId: String,
            status: OrderStatus = .approved,
            totalCents: Int64,
            currency: String,
            paymentId: String,
            shipmentId: String
        ) {
            self.orderId = orderId
            self.checkoutId = checkoutId
            self.status = status
            self.totalCents = totalCents
            self.currency = currency
            self.paymentId = paymentId
            self.shipmentId = shipmentId
        }
    }

    /// `202` to `POST /v1/checkout`: still running (or parked for an operator); `Location` is its address.
    public struct CheckoutAccepted: Codable, Sendable, Equatable {
        public var checkoutId: String
        public var status: SagaStatus

        public init(checkoutId: String, status: SagaStatus) {
            self.checkoutId = checkoutId
            self.status = status
        }
    }

    /// `GET /v1/checkouts/{id}`: a checkout's state and timeline, for its customer.
    public struct CheckoutView: Codable, Sendable, Equatable {
        public var id: String
        public var orderId: String
        public var status: SagaStatus
        public var failureCode: FailureCode?
        public var steps: [SagaAPI.Step]

        public init(id: String, orderId: String, status: SagaStatus, failureCode: FailureCode?, steps: [SagaAPI.Step]) {
            self.id = id
            self.orderId = orderId
            self.status = status
            self.failureCode = failureCode
            self.steps = steps
        }
    }

    /// Another service's entity in an order view: its id and its status (`null` when unknown because the
    /// service that owns it could not be asked and the order has not heard of it yet).
    public struct Ref<Status: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
        public var id: String
        public var status: Status?

        public init(id: String, status: Status?) {
            self.id = id
            self.status = status
        }
    }

    /// `GET /v1/orders/{id}`: the order with its payment, shipment and checkout, in one document.
    public struct OrderView: Codable, Sendable, Equatable {
        public var id: String
        public var customerId: String
        public var status: OrderStatus
        public var reason: String?
        public var items: [OrderAPI.Line]
        public var totalCents: Int64
        public var currency: String
        public var payment: Ref<PaymentStatus>?
        public var shipment: Ref<ShipmentStatus>?
        public var checkout: Ref<SagaStatus>
        public var createdAt: String

        public init(
            id: String,
            customerId: String,
            status: OrderStatus,
            reason: String?,
            items: [OrderAPI.Line],
            totalCents: Int64,
            currency: String,
            payment: Ref<PaymentStatus>?,
            shipment: Ref<ShipmentStatus>?,
            checkout: Ref<SagaStatus>,
            createdAt: String
        ) {
            self.id = id
            self.customerId = customerId
            self.status = status
            self.reason = reason
            self.items = items
            self.totalCents = totalCents
            self.currency = currency
            self.payment = payment
            self.shipment = shipment
            self.checkout = checkout
            self.createdAt = createdAt
        }
    }

    /// `202` to `POST /v1/orders/{id}/cancel`: the cancellation saga still runs.
    public struct CancellationAccepted: Codable, Sendable, Equatable {
        public var orderId: String
        public var cancellationId: String
        public var status: SagaStatus

        public init(orderId: String, cancellationId: String, status: SagaStatus) {
            self.orderId = orderId
            self.cancellationId = cancellationId
            self.status = status
        }
    }

    /// `GET /health/live` and `GET /health/ready` through the edge.
    public struct Health: Codable, Sendable, Equatable {
        public var status: String
        public init(status: String) { self.status = status }
    }
}
