import Contracts
import FoundationEssentials
import HTTP
import SagaCore
import ServiceKit
import Storage
import Synchronization

/// A saga of either kind, as the store keeps it and the runner drives it.
enum StoredSaga: Sendable, Equatable {
    case checkout(CheckoutSaga)
    case cancellation(CancellationSaga)

    /// The saga whichever its kind, for what every kind has.
    var saga: any OrchestratedSaga {
        switch self {
        case .checkout(let saga): return saga
        case .cancellation(let saga): return saga
        }
    }

    /// The `kind` column.
    var kind: String {
        switch self {
        case .checkout: return "checkout"
        case .cancellation: return "cancellation"
        }
    }

    // Read through a switch, not through `saga`: an `any OrchestratedSaga` of a checkout is a heap box holding
    // a copy of the whole state (every string and array retained, then released), made for each read, and
    // the runner and the store read these a few dozen times a checkout.
    var id: String {
        switch self {
        case .checkout(let saga): return saga.id
        case .cancellation(let saga): return saga.id
        }
    }
    var progress: SagaProgress {
        switch self {
        case .checkout(let saga): return saga.progress
        case .cancellation(let saga): return saga.progress
        }
    }
    var status: SagaStatus { progress.status }
    var customerId: String {
        switch self {
        case .checkout(let saga): return saga.customerId
        case .cancellation(let saga): return saga.customerId
        }
    }
    var orderId: String {
        switch self {
        case .checkout(let saga): return saga.orderId
        case .cancellation(let saga): return saga.orderId
        }
    }
    var failureCode: String? { progress.failureCode }
    var pendingCommand: SagaCommand? { progress.pendingCommand(saga: id) }

    /// The context of the sealed member of a checkout saga's state.
    static let sealedContext = "sagas.state.sealed"

    /// The state as stored in the `state` column: a checkout's payment token and address sealed.
    func encodedJSON(_ seals: SealCache) throws -> String {
        switch self {
        case .checkout(let saga): return saga.encodedJSON { seals.seal($0, id: saga.id) }
        case .cancellation(let saga): return String(decoding: try JSONEncoder().encode(saga), as: UTF8.self)
        }
    }

    static func decode(kind: String, state: String, seals: SealCache) throws -> StoredSaga {
        switch kind {
        case "cancellation": return .cancellation(try JSONDecoder().decode(CancellationSaga.self, from: Data(state.utf8)))
        default:
            let clear = try CheckoutSaga.unsealing(state) { try seals.open($0) }
            return .checkout(try JSONDecoder().decode(CheckoutSaga.self, from: Data(clear.utf8)))
        }
    }

    /// The saga after its log entries (see `SagaLogEntry`).
    func folding(_ entries: [String]) throws -> StoredSaga {
        guard !entries.isEmpty else { return self }
        switch self {
        case .checkout(let saga): return .checkout(try saga.folding(entries))
        case .cancellation(let saga): return .cancellation(try saga.folding(entries))
        }
    }

    /// The log entry that takes `previous` to this state, nil when nothing changed or the kinds differ.
    func logEntry(since previous: StoredSaga) -> String? {
        switch (previous, self) {
        case (.checkout(let old), .checkout(let new)): return SagaLogEntry.json(from: old, to: new)
        case (.cancellation(let old), .cancellation(let new)): return SagaLogEntry.json(from: old, to: new)
        default: return nil
        }
    }

    /// When the saga last moved: its newest step's start or end (a log entry does not touch `updated_at`).
    var lastActivity: Date? {
        progress.timeline.last.map { $0.finishedAt ?? $0.startedAt }
    }

    /// What `saga rotate-keys` does to a stored state: re-seals a sealed member under the active key,
    /// seals the clear token and address of a state written before encryption; nil when up to date.
    static func resealed(_ state: String, keyring: Keyring) throws -> String? {
        if let sealed = CheckoutSaga.sealedMember(of: state) {
            guard let fresh = try keyring.resealed(String(sealed), context: sealedContext) else { return nil }
            return state.replacing(sealed, with: fresh)
        }
        guard state.contains("\"paymentToken\":") else { return nil }
        let saga = try JSONDecoder().decode(CheckoutSaga.self, from: Data(state.utf8))
        return saga.encodedJSON { keyring.seal($0, context: sealedContext) }
    }

    /// What the runner does after a step.
    enum Progress: Equatable {
        case next
        case retry(attempt: Int)
        case finished(SagaStatus)

        init(_ decision: SagaDecision) {
            switch decision {
            case .send: self = .next
            case .retry(_, let attempt): self = .retry(attempt: attempt)
            case .finished(let status): self = .finished(status)
            }
        }
    }

    /// Applies `change` to the saga whichever its kind.
    private mutating func update<T>(_ change: (inout any OrchestratedSaga) -> T) -> T {
        var saga: any OrchestratedSaga = self.saga
        let result = change(&saga)
        if let checkout = saga as? CheckoutSaga {
            self = .checkout(checkout)
        } else if let cancellation = saga as? CancellationSaga {
            self = .cancellation(cancellation)
        }
        return result
    }

    /// Sends the pending command (with the steps that go with it, at the same time), feeds the replies to
    /// the state machine in order, and says what comes next.
    mutating func advance(_ participants: Participants, stepDeadline: TimeInterval) async -> Progress {
        let commands = progress.commandsToSend(saga: id)
        guard let first = commands.first else { return .finished(status) }
        if commands.count == 1 {
            let reply = await participants.send(first, for: self)
            return Progress(update { $0.handle(reply, now: Date(), stepDeadline: stepDeadline) })
        }
        let sent = self
        let replies = await withTaskGroup(of: (Int, SagaReply).self) { group in
            for (index, command) in commands.enumerated() {
                group.addTask { (index, await participants.send(command, for: sent)) }
            }
            var replies = [SagaReply](repeating: .failure("no reply"), count: commands.count)
            for await (index, reply) in group { replies[index] = reply }
            return replies
        }
        var decision = update { $0.handle(replies[0], now: Date(), stepDeadline: stepDeadline) }
        for (command, reply) in zip(commands.dropFirst(), replies.dropFirst()) {
            guard case .send(let next) = decision, next == command else { break }
            decision = update { $0.handle(reply, now: Date(), stepDeadline: stepDeadline) }
        }
        return Progress(decision)
    }

    /// An operator's retry of a `FAILED` saga; false when the saga is not failed.
    mutating func retryFailed(now: Date, note: String? = nil) -> Bool {
        update { $0.retryFailed(now: now, note: note) } != nil
    }

    /// An operator's resume of a stuck saga; false when it is not running or compensating.
    mutating func resume(now: Date, note: String?) -> Bool {
        update { $0.resume(now: now, note: note) }
    }

    /// An operator's forced compensation before the pivot; false when the saga is past it or not running.
    mutating func forceCompensation(now: Date, reason: String, note: String?) -> Bool {
        update { $0.forceCompensation(now: now, reason: reason, note: note) } != nil
    }

    /// The saga as the API shows it.
    var view: SagaAPI.Checkout {
        switch self {
        case .checkout(let saga): return saga.view
        case .cancellation(let saga): return saga.view
        }
    }
}

extension CheckoutSaga {
    /// The saga as the API shows it.
    var view: SagaAPI.Checkout {
        SagaAPI.Checkout(
            id: id,
            customerId: customerId,
            orderId: orderId,
            paymentId: paymentId,
            shipmentId: shipmentId,
            status: status,
            failureCode: failureCode.map(FailureCode.init(rawValue:)),
            failureDetail: failureDetail,
            totalCents: totalCents,
            currency: currency,
            version: definition.version,
            steps: progress.timelineWithRound.map { $0.view(in: definition) }
        )
    }
}

extension CancellationSaga {
    /// The cancellation as the API shows it (the checkout's shape, with `kind` "cancellation").
    var view: SagaAPI.Checkout {
        SagaAPI.Checkout(
            id: id,
            kind: .cancellation,
            customerId: customerId,
            orderId: orderId,
            paymentId: paymentId,
            shipmentId: shipmentId,
            status: status,
            failureCode: failureCode.map(FailureCode.init(rawValue:)),
            failureDetail: failureDetail,
            totalCents: nil,
            currency: nil,
            version: definition.version,
            steps: timeline.map { $0.view(in: definition) }
        )
    }
}

extension SagaStepRecord {
    /// One entry of the timeline as the API shows it: a compensation by its own name.
    func view(in definition: SagaDefinition) -> SagaAPI.Step {
        SagaAPI.Step(
            name: definition.index(of: step).map { definition.commandName(step: $0, compensation: compensation) } ?? step,
            action: compensation ? .compensation : .action,
            status: status,
            attempts: attempts,
            startedAt: Timestamp.format(startedAt),
            finishedAt: finishedAt.map(Timestamp.format),
            error: error,
            note: note
        )
    }
}

/// The sealed member of the sagas this process drives: a saga's token and address never change, so they
/// are sealed once and opened once, not at every save and load (sealing at each of a checkout's saves was
/// the largest part of the saga's added CPU). Bounded: emptied past `capacity` entries.
final class SealCache: Sendable {
    private struct State {
        var sealedByID: [String: (plain: String, sealed: String)] = [:]
        var plainBySealed: [String: String] = [:]
    }

    let keyring: Keyring
    private let capacity: Int
    private let state = Mutex(State())

    init(keyring: Keyring, capacity: Int = 10_000) {
        self.keyring = keyring
        self.capacity = capacity
    }

    func seal(_ plain: String, id: String) -> String {
        if let known = state.withLock({ $0.sealedByID[id] }), known.plain == plain { return known.sealed }
        let sealed = keyring.seal(plain, context: StoredSaga.sealedContext)
        remember(id: id, plain: plain, sealed: sealed)
        return sealed
    }

    func open(_ sealed: String) throws -> String {
        if let plain = state.withLock({ $0.plainBySealed[sealed] }) { return plain }
        return try keyring.open(sealed, context: StoredSaga.sealedContext)
    }

    private func remember(id: String, plain: String, sealed: String) {
        state.withLock { state in
            if state.sealedByID.count >= capacity { state = State() }
            state.sealedByID[id] = (plain, sealed)
            state.plainBySealed[sealed] = plain
        }
    }
}
