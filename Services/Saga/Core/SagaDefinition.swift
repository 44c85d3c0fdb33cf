import Contracts
import FoundationEssentials

/// How a participant's 2xx answer to an action is read.
public enum ReplyReading: Sendable, Equatable {
    /// Applied; the body does not matter.
    case applied
    /// A priced order: its total and currency are kept by the saga (the checkout's first step).
    case pricedOrder
}

/// One step of a saga definition, declared once: the command that does it, the command that undoes it (if
/// any), and how the action's answer is read (FTGO's `step().invokeParticipant(...).withCompensation(...)`).
/// Names are stable: they are what the timeline shows and, from version 2, what idempotency keys carry.
public struct StepDefinition: Sendable, Equatable {
    public let action: String
    public let compensation: String?
    public let reply: ReplyReading
    /// Sent at the same time as the step before it: it does not need that step's outcome. The interpreter
    /// still takes the replies in order (see `SagaProgress.commandsToSend`). Before the pivot, a step that
    /// ends the forward run (refused, or past its deadline) leaves the steps sent with it as "may have
    /// applied": each is compensated (a participant that never applied it succeeds doing nothing and keeps
    /// its late action out). The pivot itself never goes with another step: it waits for every step before it.
    public let withPrevious: Bool

    public init(_ action: String, compensation: String? = nil, reply: ReplyReading = .applied, withPrevious: Bool = false) {
        self.action = action
        self.compensation = compensation
        self.reply = reply
        self.withPrevious = withPrevious
    }
}

/// A saga definition as data: one list of steps per version, run by `SagaProgress` (the one interpreter
/// both sagas share). A version never changes once shipped: a saga records the version it started with and
/// finishes on it, whatever version new sagas use.
public struct SagaDefinition: Sendable, Equatable {
    public let kind: String
    public let version: Int
    public let steps: [StepDefinition]
    /// The step from which the saga only goes forward (the pivot): a refusal there or later leaves the saga
    /// `FAILED` for an operator, and technical failures are retried until they pass.
    public let pivot: String?
    /// Whether an action before the pivot gives up at the step deadline (and the saga compensates it), or is
    /// retried until it passes.
    public let actionsHaveDeadline: Bool
    /// Version 1 keys name a step by its position (what participants recorded before definitions had
    /// versions, so a saga in flight across the upgrade sends the same keys); later versions by its name.
    public let keysByPosition: Bool

    public init(
        kind: String,
        version: Int,
        steps: [StepDefinition],
        pivot: String?,
        actionsHaveDeadline: Bool = true,
        keysByPosition: Bool = false
    ) {
        self.kind = kind
        self.version = version
        self.steps = steps
        self.pivot = pivot
        self.actionsHaveDeadline = actionsHaveDeadline
        self.keysByPosition = keysByPosition
        pivotIndex = pivot.flatMap { name in steps.firstIndex { $0.action == name } } ?? steps.count
        if let problem = Self.groupingProblem(steps, pivotIndex: pivotIndex) { preconditionFailure("\(kind) v\(version): \(problem)") }
    }

    /// Why steps declared `withPrevious` cannot be sent that way, or nil. The pivot is where the saga stops
    /// being able to go back, so it goes alone: sent once every step before it has answered (a refusal there
    /// is compensated, and must not find the pivot applied), and before any step after it is sent (a refused
    /// pivot leaves the saga to an operator, with nothing after it done).
    public static func groupingProblem(_ steps: [StepDefinition], pivotIndex: Int) -> String? {
        for (index, step) in steps.enumerated() where step.withPrevious {
            if index == 0 { return "\(step.action) is first: there is no step before it to go with" }
            if index == pivotIndex { return "\(step.action) is the pivot: it cannot go with the step before it" }
            if index - 1 == pivotIndex { return "\(step.action) cannot go with the pivot" }
        }
        return nil
    }

    private let pivotIndex: Int

    public static func == (lhs: SagaDefinition, rhs: SagaDefinition) -> Bool { lhs.kind == rhs.kind && lhs.version == rhs.version }

    public func index(of action: String) -> Int? { steps.firstIndex { $0.action == action } }

    func isAtOrAfterPivot(_ index: Int) -> Bool { index >= pivotIndex }

    /// The key a participant records for a step's action or compensation: the same on every retry and
    /// after a restart, different between the two directions.
    public func idempotencyKey(saga id: String, step index: Int, compensation: Bool) -> String {
        let step = keysByPosition ? "\(index + 1)" : steps[index].action
        return "\(id):\(step):\(compensation ? "undo" : "do")"
    }

    /// The name of a step's action or compensation, as the timeline shows it and as the runner sends it.
    public func commandName(step index: Int, compensation: Bool) -> String {
        compensation ? (steps[index].compensation ?? steps[index].action) : steps[index].action
    }

    func command(saga id: String, step index: Int, compensation: Bool) -> SagaCommand {
        SagaCommand(
            name: commandName(step: index, compensation: compensation),
            step: steps[index].action,
            compensation: compensation,
            idempotencyKey: idempotencyKey(saga: id, step: index, compensation: compensation),
            reply: compensation ? .applied : steps[index].reply
        )
    }
}

/// A command the saga asks its runner to send: a step's action or its compensation, with the idempotency
/// key the participant records.
public struct SagaCommand: Equatable, Sendable {
    /// What to send: the action's or the compensation's name (`payment.void`).
    public let name: String
    /// The step's action name (`payment.authorize`).
    public let step: String
    public let compensation: Bool
    public let idempotencyKey: String
    public let reply: ReplyReading
}

/// What a participant answered.
public enum SagaReply: Equatable, Sendable {
    /// The step applied. A priced order reports its total.
    case success(totalCents: Int64? = nil, currency: String? = nil)
    /// A business refusal (`out_of_stock`, `payment_declined`, `undeliverable`): compensate at once.
    case refused(code: String, detail: String)
    /// A technical failure (timeout, refused connection, 5xx, an open circuit breaker): retry.
    case failure(String)
}

/// What the runner does next.
public enum SagaDecision: Equatable, Sendable {
    case send(SagaCommand)
    /// Send again after a backoff; `attempt` counts the failures so far (1 for the first retry).
    case retry(SagaCommand, attempt: Int)
    case finished(SagaStatus)
}

/// One entry of the timeline: a step's action or compensation, by the step's action name.
public struct SagaStepRecord: Codable, Sendable, Equatable {
    public var step: String
    public var compensation: Bool
    public var status: StepStatus
    public var attempts: Int
    public var startedAt: Date
    public var finishedAt: Date?
    public var error: String?
    /// Who acted on the saga here, and why (an operator's retry, resume or forced compensation).
    public var note: String?

    /// A step (or its compensation) begun at `now`.
    static func started(_ step: String, compensation: Bool, at now: Date, note: String? = nil) -> SagaStepRecord {
        SagaStepRecord(step: step, compensation: compensation, status: .running, attempts: 0, startedAt: now, note: note)
    }

    /// A technical failure that will be retried: the step stays running.
    mutating func failedOnce(attempts: Int, error: String) {
        self.attempts = attempts
        self.error = error
    }

    /// The step's end: `SUCCEEDED`, `REFUSED`, `FAILED` or `ABANDONED` (an operator compensated it instead).
    mutating func finish(_ status: StepStatus, attempts: Int, error: String?, at now: Date) {
        self.status = status
        self.attempts = attempts
        finishedAt = now
        self.error = error
    }
}

/// The interpreter: where a saga stands in its definition, moved by replies. Pure (no I/O, `now` passed in),
/// so every path is tested without a network or a database.
public struct SagaProgress: Sendable, Equatable {
    public let definition: SagaDefinition
    public internal(set) var status: SagaStatus
    /// The step whose action (running) or compensation (compensating) is in progress.
    public private(set) var current: Int
    /// Actions that applied, or may have, in order: what compensation walks back.
    public private(set) var applied: [Int] = []
    public private(set) var stepStartedAt: Date
    public private(set) var attempts = 0
    public private(set) var failureCode: String?
    public private(set) var failureDetail: String?
    public internal(set) var timeline: [SagaStepRecord]

    public init(definition: SagaDefinition, now: Date) {
        self.definition = definition
        status = .running
        current = 0
        stepStartedAt = now
        timeline = [.started(definition.steps[0].action, compensation: false, at: now)]
    }

    /// Whether the step in progress is a compensation.
    var compensating: Bool { timeline.last?.compensation ?? false }

    /// The command in progress (to send first, or again after a restart), or nil when finished.
    public func pendingCommand(saga id: String) -> SagaCommand? {
        guard !status.isFinished else { return nil }
        return definition.command(saga: id, step: current, compensation: status == .compensating)
    }

    /// The commands to send now: the one in progress and, while the saga runs forward, the steps after it
    /// declared `withPrevious`. Their replies go to `handle` in the same order, each while it names that
    /// command as the next (a reply left over once the saga takes another way is dropped: its command is
    /// sent again, with the same key, when the saga comes to it, or compensated if the saga turns back; see
    /// `sentWithCurrent`).
    public func commandsToSend(saga id: String) -> [SagaCommand] {
        guard let pending = pendingCommand(saga: id) else { return [] }
        guard status == .running else { return [pending] }
        return [pending] + sentWithCurrent.map { definition.command(saga: id, step: $0, compensation: false) }
    }

    /// Applies a participant's reply to the command in progress. `stepDeadline`: how long an action before
    /// the pivot is retried before the saga compensates it. A compensation, or an action from the pivot on,
    /// is retried for as long as its failures are technical: an outage delays it, it never ends it.
    public mutating func handle(_ reply: SagaReply, saga id: String, now: Date, stepDeadline: TimeInterval) -> SagaDecision {
        guard !status.isFinished else { return .finished(status) }
        attempts += 1
        let compensating = status == .compensating
        switch reply {
        case .success:
            finishRecord(status: .succeeded, error: nil, now: now)
            if compensating { return nextCompensation(saga: id, now: now) }
            applied.append(current)
            guard current + 1 < definition.steps.count else {
                status = .completed
                return .finished(.completed)
            }
            // A step sent with this one began when this one did: its record, and its deadline, count from then.
            begin(current + 1, compensation: false, now: definition.steps[current + 1].withPrevious ? stepStartedAt : now)
            return .send(definition.command(saga: id, step: current, compensation: false))

        case .refused(let code, let detail):
            finishRecord(status: .refused, error: "\(code): \(detail)", now: now)
            if compensating || definition.isAtOrAfterPivot(current) {
                // A compensation, or a step past the pivot, cannot be refused by design: an operator must look.
                if !compensating {
                    failureCode = failureCode ?? code
                    failureDetail = failureDetail ?? detail
                }
                status = .failed
                return .finished(.failed)
            }
            failureCode = code
            failureDetail = detail
            applied += sentWithCurrent
            status = .compensating
            return nextCompensation(saga: id, now: now)

        case .failure(let message):
            timeline[timeline.count - 1].failedOnce(attempts: attempts, error: message)
            let overdue = now.timeIntervalSince(stepStartedAt) >= stepDeadline
            if !overdue || compensating || definition.isAtOrAfterPivot(current) || !definition.actionsHaveDeadline {
                return .retry(definition.command(saga: id, step: current, compensation: compensating), attempt: attempts)
            }
            finishRecord(status: .failed, error: message, now: now)
            // The step may have applied before its reply was lost: compensate it too (a participant that
            // never applied it succeeds doing nothing and keeps the late action out).
            applied.append(current)
            applied += sentWithCurrent
            failureCode = "service_unavailable"
            failureDetail = "\(definition.steps[current].action) did not answer before the step deadline"
            status = .compensating
            return nextCompensation(saga: id, now: now)
        }
    }

    /// An operator's retry of a `FAILED` saga: the action or compensation in progress starts over with a
    /// new deadline, its start noted with `note` (who and why). Nil when the saga is not failed.
    public mutating func retryFailed(saga id: String, now: Date, note: String? = nil) -> SagaDecision? {
        guard status == .failed else { return nil }
        let compensation = compensating
        if compensation {
            status = .compensating
        } else {
            status = .running
            failureCode = nil
            failureDetail = nil
        }
        begin(current, compensation: compensation, now: now, note: note)
        return .send(definition.command(saga: id, step: current, compensation: compensation))
    }

    /// An operator's forced compensation of a running saga that has not reached the pivot: the action in
    /// progress is abandoned (and compensated too, since it may have applied). Nil once the pivot is reached
    /// or the saga is not running.
    public mutating func forceCompensation(saga id: String, now: Date, code: String, detail: String, note: String?) -> SagaDecision? {
        guard status == .running, !definition.isAtOrAfterPivot(current) else { return nil }
        finishRecord(status: .abandoned, error: detail, now: now)
        timeline[timeline.count - 1].note = note
        // The steps after it and before the pivot may have applied too: the runner saves a forward step's
        // reply lazily (a crash loses at most replies the next driver gets again with the same keys), so a
        // state read after a crash can be behind what the participants did. Compensating a step that never
        // applied does nothing and keeps its late action out.
        var step = current
        while step < definition.steps.count, !definition.isAtOrAfterPivot(step) {
            applied.append(step)
            step += 1
        }
        failureCode = code
        failureDetail = detail
        status = .compensating
        return nextCompensation(saga: id, now: now)
    }

    /// An operator's resume of a stuck saga: the step in progress gets a new deadline now (its driver sends
    /// it again at once), noted with `note`. False when the saga is not running or compensating.
    public mutating func resume(now: Date, note: String?) -> Bool {
        guard status == .running || status == .compensating else { return false }
        stepStartedAt = now
        if let note {
            timeline[timeline.count - 1].note = [timeline[timeline.count - 1].note, note].compactMap { $0 }.joined(separator: "; ")
        }
        return true
    }

    /// The timeline as it stands while a round is in flight: the steps sent with the one in progress show as
    /// running since they were sent (their own records begin when the interpreter comes to their replies).
    public var timelineWithRound: [SagaStepRecord] {
        guard status == .running else { return timeline }
        return timeline + sentWithCurrent.map { .started(definition.steps[$0].action, compensation: false, at: stepStartedAt) }
    }

    /// The steps `commandsToSend` sends with the one in progress while the saga runs forward. When that step
    /// turns the saga back before the pivot, their replies are dropped unread, so each may have applied.
    private var sentWithCurrent: [Int] {
        var steps: [Int] = []
        var next = current + 1
        while next < definition.steps.count, definition.steps[next].withPrevious {
            steps.append(next)
            next += 1
        }
        return steps
    }

    private mutating func nextCompensation(saga id: String, now: Date) -> SagaDecision {
        while let step = applied.popLast() {
            if definition.steps[step].compensation != nil {
                begin(step, compensation: true, now: now)
                return .send(definition.command(saga: id, step: step, compensation: true))
            }
        }
        status = .compensated
        return .finished(.compensated)
    }

    private mutating func begin(_ step: Int, compensation: Bool, now: Date, note: String? = nil) {
        current = step
        attempts = 0
        stepStartedAt = now
        timeline.append(.started(definition.steps[step].action, compensation: compensation, at: now, note: note))
    }

    private mutating func finishRecord(status: StepStatus, error: String?, now: Date) {
        timeline[timeline.count - 1].finish(status, attempts: attempts, error: error, at: now)
    }

    /// The commands a reconciliation sends again after a restore (see `Redrive`).
    public func redriveCommands(saga id: String) -> [SagaCommand] {
        guard status == .completed || status == .compensated else { return [] }
        return timeline.filter { $0.status == .succeeded && $0.compensation == (status == .compensated) }.compactMap { record in
            definition.index(of: record.step).map { definition.command(saga: id, step: $0, compensation: record.compensation) }
        }
    }
}

// MARK: - Stored form

extension SagaProgress {
    enum Keys: String, CodingKey {
        case version, status, current, applied, stepStartedAt, attempts, failureCode, failureDetail, timeline
    }

    /// A step as stored: its action name, or (states written before definitions had versions) its position
    /// in version 1, from 1.
    private enum StoredStep: Decodable {
        case name(String)
        case position(Int)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let position = try? container.decode(Int.self) {
                self = .position(position)
            } else {
                self = .name(try container.decode(String.self))
            }
        }

        func index(in definition: SagaDefinition) throws -> Int {
            switch self {
            case .position(let position) where (1...definition.steps.count).contains(position): return position - 1
            case .name(let name): if let index = definition.index(of: name) { return index }
            default: break
            }
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "no step \(self) in \(definition.kind) v\(definition.version)")
            )
        }
    }

    private struct StoredRecord: Decodable {
        var step: StoredStep
        var compensation: Bool
        var status: StepStatus
        var attempts: Int
        var startedAt: Date
        var finishedAt: Date?
        var error: String?
        var note: String?
    }

    /// Reads the interpreter's members from a saga's stored state (they sit beside the saga's own members).
    /// A state without a version is version 1.
    public init(from decoder: any Decoder, definitions: [Int: SagaDefinition]) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let version = try container.decodeIfPresent(Int.self, forKey: .version) ?? 1
        guard let definition = definitions[version] else {
            throw DecodingError.dataCorruptedError(
                forKey: .version,
                in: container,
                debugDescription: "unknown definition version \(version)"
            )
        }
        self.definition = definition
        status = try container.decode(SagaStatus.self, forKey: .status)
        current = try container.decode(StoredStep.self, forKey: .current).index(in: definition)
        applied = try container.decode([StoredStep].self, forKey: .applied).map { try $0.index(in: definition) }
        stepStartedAt = try container.decode(Date.self, forKey: .stepStartedAt)
        attempts = try container.decode(Int.self, forKey: .attempts)
        failureCode = try container.decodeIfPresent(String.self, forKey: .failureCode)
        failureDetail = try container.decodeIfPresent(String.self, forKey: .failureDetail)
        timeline = try container.decode([StoredRecord].self, forKey: .timeline).map { record in
            SagaStepRecord(
                step: definition.steps[try record.step.index(in: definition)].action,
                compensation: record.compensation,
                status: record.status,
                attempts: record.attempts,
                startedAt: record.startedAt,
                finishedAt: record.finishedAt,
                error: record.error,
                note: record.note
            )
        }
    }

    /// Writes the interpreter's members into a saga's state (steps by name).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(definition.version, forKey: .version)
        try container.encode(status, forKey: .status)
        try container.encode(definition.steps[current].action, forKey: .current)
        try container.encode(applied.map { definition.steps[$0].action }, forKey: .applied)
        try container.encode(stepStartedAt, forKey: .stepStartedAt)
        try container.encode(attempts, forKey: .attempts)
        try container.encodeIfPresent(failureCode, forKey: .failureCode)
        try container.encodeIfPresent(failureDetail, forKey: .failureDetail)
        try container.encode(timeline, forKey: .timeline)
    }

    /// The same members as JSON text, for the checkout saga's hand-written encoder (a leading comma each).
    public var jsonMembers: String { jsonMembers(timelineFrom: 0) }

    /// The members with the timeline from record `from` on only: a log entry's (see `SagaLogEntry`).
    func jsonMembers(timelineFrom from: Int) -> String {
        var out = ",\"version\":\(definition.version),\"status\":\"\(status.rawValue)\""
        out += ",\"current\":" + JSONText.quote(definition.steps[current].action)
        out += ",\"applied\":[" + applied.map { JSONText.quote(definition.steps[$0].action) }.joined(separator: ",") + "]"
        out += ",\"stepStartedAt\":\(stepStartedAt.timeIntervalSinceReferenceDate),\"attempts\":\(attempts)"
        if let failureCode { out += ",\"failureCode\":" + JSONText.quote(failureCode) }
        if let failureDetail { out += ",\"failureDetail\":" + JSONText.quote(failureDetail) }
        out += ",\"timeline\":["
        for (index, record) in timeline.enumerated() where index >= from {
            if index > from { out += "," }
            out +=
                "{\"step\":\(JSONText.quote(record.step)),\"compensation\":\(record.compensation),\"status\":\(JSONText.quote(record.status.rawValue)),"
            out += "\"attempts\":\(record.attempts),\"startedAt\":\(record.startedAt.timeIntervalSinceReferenceDate)"
            if let finishedAt = record.finishedAt { out += ",\"finishedAt\":\(finishedAt.timeIntervalSinceReferenceDate)" }
            if let error = record.error { out += ",\"error\":\(JSONText.quote(error))" }
            if let note = record.note { out += ",\"note\":\(JSONText.quote(note))" }
            out += "}"
        }
        return out + "]"
    }
}
