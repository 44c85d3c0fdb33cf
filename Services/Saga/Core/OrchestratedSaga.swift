import Contracts
import FoundationEssentials

/// What the saga service's runner and store need of a saga of any kind: its identity and outcome, the
/// command in progress, and the transitions (all from the interpreter, `SagaProgress`). `CheckoutSaga` and
/// `CancellationSaga` are the two kinds.
public protocol OrchestratedSaga: Codable, Sendable, Equatable {
    var id: String { get }
    var customerId: String { get }
    var orderId: String { get }
    var progress: SagaProgress { get }
    var pendingCommand: SagaCommand? { get }
    mutating func handle(_ reply: SagaReply, now: Date, stepDeadline: TimeInterval) -> SagaDecision
    /// An operator's retry of a `FAILED` saga, or nil when it is not failed.
    mutating func retryFailed(now: Date, note: String?) -> SagaDecision?
    /// An operator's resume of a stuck saga; false when it is not running or compensating.
    mutating func resume(now: Date, note: String?) -> Bool
    /// An operator's forced compensation of a running saga before its pivot, or nil.
    mutating func forceCompensation(now: Date, reason: String, note: String?) -> SagaDecision?
}

extension OrchestratedSaga {
    public var status: SagaStatus { progress.status }
    public var failureCode: String? { progress.failureCode }
    /// The commands to send now (see `SagaProgress.commandsToSend`).
    public var commandsToSend: [SagaCommand] { progress.commandsToSend(saga: id) }
    /// The commands a reconciliation sends again after a restore (see `Redrive`).
    public var redriveCommands: [SagaCommand] { progress.redriveCommands(saga: id) }
}

extension CheckoutSaga: OrchestratedSaga {}
extension CancellationSaga: OrchestratedSaga {}
