import Contracts
import Foundation

/// A step of a saga: numbered in order (the number goes into idempotency keys), named on the timeline.
public protocol SagaStep: RawRepresentable, Codable, Sendable, Equatable where RawValue == Int {
    var name: String { get }
}

/// The steps of the checkout saga, in order (DESIGN, "Checkout saga").
public enum CheckoutStep: Int, SagaStep, CaseIterable {
    case createOrder = 1
    case reserveStock
    case authorizePayment
    case scheduleShipment
    case capturePayment
    case commitReservation
    case approveOrder

    /// The name on the timeline.
    public var name: String {
        switch self {
        case .createOrder: return "order.create"
        case .reserveStock: return "inventory.reserve"
        case .authorizePayment: return "payment.authorize"
        case .scheduleShipment: return "shipping.schedule"
        case .capturePayment: return "payment.capture"
        case .commitReservation: return "inventory.commit"
        case .approveOrder: return "order.approve"
        }
    }

    /// The name of the compensation, for steps that have one.
    public var compensationName: String? {
        switch self {
        case .createOrder: return "order.reject"
        case .reserveStock: return "inventory.release"
        case .authorizePayment: return "payment.void"
        case .scheduleShipment: return "shipping.cancel"
        case .capturePayment, .commitReservation, .approveOrder: return nil
        }
    }

    /// Capture is the pivot: once it is attempted the saga only goes forward.
    public var isAtOrAfterPivot: Bool { rawValue >= CheckoutStep.capturePayment.rawValue }

    public var next: CheckoutStep? { CheckoutStep(rawValue: rawValue + 1) }
}

/// `RUNNING`, `COMPENSATING`, `COMPLETED`, `COMPENSATED`, `FAILED` (a compensation could not finish).
public enum SagaStatus: String, Codable, Sendable {
    case running = "RUNNING"
    case compensating = "COMPENSATING"
    case completed = "COMPLETED"
    case compensated = "COMPENSATED"
    case failed = "FAILED"

    public var isFinished: Bool { self == .completed || self == .compensated || self == .failed }
}

/// A command the saga asks its runner to send: a step's action or its compensation, with the idempotency
/// key the participant records (the same on every retry and after a restart).
public struct SagaCommand<Step: SagaStep>: Equatable, Sendable {
    public let step: Step
    public let compensation: Bool
    public let idempotencyKey: String
}

/// What a participant answered.
public enum SagaReply: Equatable, Sendable {
    /// The step applied. `createOrder` reports the priced total.
    case success(totalCents: Int64? = nil, currency: String? = nil)
    /// A business refusal (`out_of_stock`, `payment_declined`, `undeliverable`): compensate at once.
    case refused(code: String, detail: String)
    /// A technical failure (timeout, refused connection, 5xx): retry until the step's deadline.
    case failure(String)
}

/// What the runner does next.
public enum SagaDecision<Step: SagaStep>: Equatable, Sendable {
    case send(SagaCommand<Step>)
    /// Send again after a backoff; `attempt` counts the failures so far (1 for the first retry).
    case retry(SagaCommand<Step>, attempt: Int)
    case finished(SagaStatus)
}

/// One entry of the timeline.
public struct SagaStepRecord<Step: SagaStep>: Codable, Sendable, Equatable {
    public var step: Step
    public var compensation: Bool
    public var status: String
    public var attempts: Int
    public var startedAt: Date
    public var finishedAt: Date?
    public var error: String?
}

/// The checkout saga as a pure state machine: replies in, decisions out. No I/O, no clock of its own
/// (`now` is passed in), so every path is tested without a network or a database; the runner persists the
/// whole value at each step boundary and drives the decisions.
public struct CheckoutSaga: Codable, Sendable, Equatable {
    public let id: String
    public let customerId: String
    public let orderId: String
    public let paymentId: String
    public let shipmentId: String
    public let items: [Item]
    public let paymentToken: String
    public let shipping: ShippingAPI.Address
    public private(set) var status: SagaStatus
    /// The step whose action (running) or compensation (compensating) is in progress.
    public private(set) var current: CheckoutStep
    /// Actions that applied, or may have, in order: what compensation walks back.
    public private(set) var applied: [CheckoutStep] = []
    public private(set) var stepStartedAt: Date
    public private(set) var attempts = 0
    public private(set) var failureCode: String?
    public private(set) var failureDetail: String?
    public private(set) var totalCents: Int64?
    public private(set) var currency: String?
    public private(set) var timeline: [SagaStepRecord<CheckoutStep>] = []

    /// A new saga at its first step.
    public init(
        id: String,
        customerId: String,
        orderId: String,
        paymentId: String,
        shipmentId: String,
        items: [Item],
        paymentToken: String,
        shipping: ShippingAPI.Address,
        now: Date
    ) {
        self.id = id
        self.customerId = customerId
        self.orderId = orderId
        self.paymentId = paymentId
        self.shipmentId = shipmentId
        self.items = items
        self.paymentToken = paymentToken
        self.shipping = shipping
        status = .running
        current = .createOrder
        stepStartedAt = now
        timeline = [.started(.createOrder, compensation: false, at: now)]
    }

    /// The command in progress (to send first, or again after a restart), or nil when finished.
    public var pendingCommand: SagaCommand<CheckoutStep>? {
        guard !status.isFinished else { return nil }
        return command(current, compensation: status == .compensating)
    }

    private func command(_ step: CheckoutStep, compensation: Bool) -> SagaCommand<CheckoutStep> {
        SagaCommand(saga: id, step: step, compensation: compensation)
    }

    /// Applies a participant's reply to the command in progress.
    /// - Parameters:
    ///   - stepDeadline: how long an action's technical failures are retried before the saga compensates
    ///     (before the pivot only: a compensation, or an action past the pivot, is retried for as long as
    ///     its failures are technical; `FAILED` is only for a refused compensation).
    public mutating func handle(_ reply: SagaReply, now: Date, stepDeadline: TimeInterval) -> SagaDecision<CheckoutStep> {
        guard !status.isFinished else { return .finished(status) }
        attempts += 1
        let compensating = status == .compensating
        switch reply {
        case .success(let total, let currency):
            finishRecord(status: "SUCCEEDED", error: nil, now: now)
            if compensating {
                return nextCompensation(now: now)
            }
            if current == .createOrder {
                totalCents = total
                self.currency = currency
            }
            applied.append(current)
            guard let next = current.next else {
                status = .completed
                return .finished(.completed)
            }
            begin(next, compensation: false, now: now)
            return .send(command(next, compensation: false))

        case .refused(let code, let detail):
            if compensating || current.isAtOrAfterPivot {
                // A compensation, or a step past the pivot, cannot be refused by design: an operator must look.
                finishRecord(status: "REFUSED", error: "\(code): \(detail)", now: now)
                if !compensating {
                    failureCode = failureCode ?? code
                    failureDetail = failureDetail ?? detail
                }
                status = .failed
                return .finished(.failed)
            }
            finishRecord(status: "REFUSED", error: "\(code): \(detail)", now: now)
            failureCode = code
            failureDetail = detail
            return startCompensation(now: now)

        case .failure(let message):
            timeline[timeline.count - 1].failedOnce(attempts: attempts, error: message)
            // An outage of any length delays a compensation, it never ends it; after the pivot the saga
            // only goes forward. Only an action before the pivot gives up at its deadline.
            let overdue = now.timeIntervalSince(stepStartedAt) >= stepDeadline
            if !overdue || compensating || current.isAtOrAfterPivot {
                return .retry(command(current, compensation: compensating), attempt: attempts)
            }
            finishRecord(status: "FAILED", error: message, now: now)
            // The step may have applied before its reply was lost: compensate it too (a participant that
            // never applied it succeeds doing nothing and keeps the late action out).
            applied.append(current)
            failureCode = "service_unavailable"
            failureDetail = "\(current.name) did not answer before the step deadline"
            return startCompensation(now: now)
        }
    }

    /// An operator's retry of a `FAILED` saga: the compensation in progress starts over with a new deadline.
    public mutating func retryFailed(now: Date) -> SagaDecision<CheckoutStep>? {
        guard status == .failed else { return nil }
        if current.isAtOrAfterPivot && !timeline.contains(where: \.compensation) {
            status = .running
            begin(current, compensation: false, now: now)
            return .send(command(current, compensation: false))
        }
        status = .compensating
        begin(current, compensation: true, now: now)
        return .send(command(current, compensation: true))
    }

    private mutating func startCompensation(now: Date) -> SagaDecision<CheckoutStep> {
        status = .compensating
        return nextCompensation(now: now)
    }

    private mutating func nextCompensation(now: Date) -> SagaDecision<CheckoutStep> {
        while let step = applied.popLast() {
            if step.compensationName != nil {
                begin(step, compensation: true, now: now)
                return .send(command(step, compensation: true))
            }
        }
        status = .compensated
        return .finished(.compensated)
    }

    private mutating func begin(_ step: CheckoutStep, compensation: Bool, now: Date) {
        current = step
        attempts = 0
        stepStartedAt = now
        timeline.append(.started(step, compensation: compensation, at: now))
    }

    private mutating func finishRecord(status: String, error: String?, now: Date) {
        timeline[timeline.count - 1].finish(status, attempts: attempts, error: error, at: now)
    }
}
