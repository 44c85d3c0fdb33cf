/// Read-only, paged views that each service serves at `GET /v1/reconciliation/...` (service token) for the
/// consistency auditor. Each page is read in one transaction of the service's own database, so the figures
/// on one row always belong together; rows on different pages may be a moment apart.
public enum ReconciliationAPI {
    /// The largest page a reconciliation route serves.
    public static let maxPageSize = 1000

    /// Inventory, per SKU: where every unit is. Stock is conserved when
    /// `received + restocked == available + held + committed` and the `reserved` counter equals `held`.
    public struct Stock: Codable, Sendable, Equatable {
        public var sku: String
        /// Units put on sale: the stock the product was created with, plus every operator adjustment.
        public var received: Int64
        /// Units on sale now.
        public var available: Int64
        /// The product's `reserved` counter.
        public var reserved: Int64
        /// Units in reservations that are still `RESERVED` (what `reserved` must equal).
        public var held: Int64
        /// Units in committed reservations, restocked ones included (they were sold, then came back).
        public var committed: Int64
        /// Units that came back through restocks of cancelled orders.
        public var restocked: Int64

        public init(sku: String, received: Int64, available: Int64, reserved: Int64, held: Int64, committed: Int64, restocked: Int64) {
            self.sku = sku
            self.received = received
            self.available = available
            self.reserved = reserved
            self.held = held
            self.committed = committed
            self.restocked = restocked
        }
    }

    /// One effect a participant holds for a saga: a reservation, a payment or a shipment.
    /// `orderId` is empty for a reservation (its id is the checkout's) and for a compensation's tombstone.
    public struct Effect: Codable, Sendable, Equatable {
        public var id: String
        public var orderId: String
        public var status: String
        /// Units (reservations) or minor units of money (payments); 0 for shipments.
        public var amount: Int64
        public var currency: String?
        public var createdAt: String
        public var updatedAt: String

        public init(id: String, orderId: String, status: String, amount: Int64, currency: String?, createdAt: String, updatedAt: String) {
            self.id = id
            self.orderId = orderId
            self.status = status
            self.amount = amount
            self.currency = currency
            self.createdAt = createdAt
            self.updatedAt = updatedAt
        }
    }

    /// An order as the auditor needs it (the projected view's row without its lines).
    public struct Order: Codable, Sendable, Equatable {
        public var id: String
        public var customerId: String
        public var checkoutId: String
        public var status: String
        public var reason: String?
        public var totalCents: Int64
        public var currency: String
        public var createdAt: String
        public var updatedAt: String

        public init(
            id: String,
            customerId: String,
            checkoutId: String,
            status: String,
            reason: String?,
            totalCents: Int64,
            currency: String,
            createdAt: String,
            updatedAt: String
        ) {
            self.id = id
            self.customerId = customerId
            self.checkoutId = checkoutId
            self.status = status
            self.reason = reason
            self.totalCents = totalCents
            self.currency = currency
            self.createdAt = createdAt
            self.updatedAt = updatedAt
        }
    }

    /// A saga as the auditor needs it: its outcome, the ids of the effects it owns, when it last moved,
    /// and how many times each step's action or compensation succeeded (`order.create:do` -> 1).
    public struct Saga: Codable, Sendable, Equatable {
        public var id: String
        /// `checkout` or `cancellation`.
        public var kind: String
        public var status: String
        public var customerId: String
        public var orderId: String
        /// The checkout a cancellation undoes (the reservation's id); the saga's own id for a checkout.
        public var checkoutId: String
        public var paymentId: String
        public var shipmentId: String
        public var totalCents: Int64?
        public var failureCode: String?
        public var createdAt: String
        public var updatedAt: String
        public var succeeded: [String: Int]

        public init(
            id: String,
            kind: String,
            status: String,
            customerId: String,
            orderId: String,
            checkoutId: String,
            paymentId: String,
            shipmentId: String,
            totalCents: Int64?,
            failureCode: String?,
            createdAt: String,
            updatedAt: String,
            succeeded: [String: Int]
        ) {
            self.id = id
            self.kind = kind
            self.status = status
            self.customerId = customerId
            self.orderId = orderId
            self.checkoutId = checkoutId
            self.paymentId = paymentId
            self.shipmentId = shipmentId
            self.totalCents = totalCents
            self.failureCode = failureCode
            self.createdAt = createdAt
            self.updatedAt = updatedAt
            self.succeeded = succeeded
        }
    }

    /// `POST /v1/sagas/{id}/redrive` at the saga service: a finished saga's commands sent again with their
    /// own idempotency keys, so a participant restored from before them applies them, and one that has them
    /// answers as before. Each command's outcome is listed.
    public struct Redrive: Codable, Sendable, Equatable {
        public struct Command: Codable, Sendable, Equatable {
            public var step: String
            public var idempotencyKey: String
            /// `applied`, `refused: <code>` or `failed: <why>`.
            public var outcome: String

            public init(step: String, idempotencyKey: String, outcome: String) {
                self.step = step
                self.idempotencyKey = idempotencyKey
                self.outcome = outcome
            }
        }

        public var sagaId: String
        public var status: String
        public var commands: [Command]

        public init(sagaId: String, status: String, commands: [Command]) {
            self.sagaId = sagaId
            self.status = status
            self.commands = commands
        }
    }
}
