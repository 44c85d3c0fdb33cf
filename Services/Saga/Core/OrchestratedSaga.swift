import Foundation

/// What the saga service's runner and store need of a saga of any kind: its identity and outcome, the
/// command in progress, and the transitions. `CheckoutSaga` and `CancellationSaga` are the two kinds.
public protocol OrchestratedSaga: Codable, Sendable, Equatable {
    associatedtype Step: SagaStep
    var id: String { get }
    var customerId: String { get }
    var orderId: String { get }
    var status: SagaStatus { get }
    var failureCode: String? { get }
    /// The command to send now (first, again, or after a restart), or nil when finished.
    var pendingCommand: SagaCommand<Step>? { get }
    mutating func handle(_ reply: SagaReply, now: Date, stepDeadline: TimeInterval) -> SagaDecision<Step>
    /// An operator's retry of a `FAILED` saga, or nil when it is not failed.
    mutating func retryFailed(now: Date) -> SagaDecision<Step>?
}

extension CheckoutSaga: OrchestratedSaga {}
extension CancellationSaga: OrchestratedSaga {}

extension SagaCommand {
    /// A step's action or compensation for saga `sagaId`, with the key the participant records: the same on
    /// every retry and after a restart, different between the action and its compensation.
    init(saga sagaId: String, step: Step, compensation: Bool) {
        self.init(step: step, compensation: compensation, idempotencyKey: "\(sagaId):\(step.rawValue):\(compensation ? "undo" : "do")")
    }
}

extension SagaStepRecord {
    /// A step (or its compensation) begun at `now`.
    static func started(_ step: Step, compensation: Bool, at now: Date) -> SagaStepRecord {
        SagaStepRecord(step: step, compensation: compensation, status: "RUNNING", attempts: 0, startedAt: now)
    }

    /// A technical failure that will be retried: the step stays running.
    mutating func failedOnce(attempts: Int, error: String) {
        self.attempts = attempts
        self.error = error
    }

    /// The step's end: `SUCCEEDED`, `REFUSED` or `FAILED`.
    mutating func finish(_ status: String, attempts: Int, error: String?, at now: Date) {
        self.status = status
        self.attempts = attempts
        finishedAt = now
        self.error = error
    }
}
