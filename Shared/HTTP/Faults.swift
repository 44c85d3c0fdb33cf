import FoundationEssentials
import Glibc
import Platform
import Synchronization

/// Faults on purpose: named points in every service where an armed rule delays, fails, resets the
/// connection, or crashes the process at once (as `kill -9` would). Each rule has a probability, a count
/// and a seed, so a run is replayed exactly: a rule draws from its own generator, once per visit of a
/// point it matches.
///
/// Armed only when the process allows it (`FAULT_INJECTION=on`); then at start from `FAULTS=...` and at run
/// time through `POST /v1/admin/faults`. The points:
///
/// | point | where |
/// |---|---|
/// | `server.before_handle` | a request read, before its handler (label `METHOD /path`) |
/// | `participant.before_commit` | a command's effect and answer written, its transaction not committed (label: its Idempotency-Key) |
/// | `participant.after_commit` | a command committed, its answer not sent (label `METHOD /path KEY`) |
/// | `saga.before_send` | the saga about to send a command (label: the command's name) |
/// | `saga.after_reply` | the saga holding a reply, not yet saved (label: the command's name) |
/// | `consumer.after_apply` | a feed consumer applied an event, its cursor not moved (label: consumer name) |
/// | `outbox.before_page` | a feed about to serve a page (label: `METHOD /path`) |
/// | `client.before_send` | the HTTP client about to send (label `METHOD url`) |
/// | `client.after_send` | the HTTP client sent a request, its answer not read (label `METHOD url`) |
public final class Faults: Sendable {
    public static let points: [String] = [
        "server.before_handle", "participant.before_commit", "participant.after_commit", "saga.before_send", "saga.after_reply",
        "consumer.after_apply", "outbox.before_page", "client.before_send", "client.after_send",
    ]

    /// The process's faults (disabled until `enable` is called).
    public static let shared = Faults()

    /// What a rule does when it fires.
    public enum Action: Sendable, Equatable {
        case delay(milliseconds: Int)
        /// Fail with this HTTP status (a problem document at a server point, a synthetic answer at a client
        /// or saga point).
        case fail(status: Int)
        /// Drop the connection without an answer.
        case reset
        /// `_exit` at once: no clean-up, no flush, as `kill -9`.
        case crash
    }

    public struct Rule: Sendable, Equatable {
        public var point: String
        /// A substring the point's label must contain (empty: any).
        public var match: String
        public var action: Action
        public var probability: Double
        /// How many times it may fire (nil: no limit).
        public var count: Int?
        public var seed: UInt64

        public init(point: String, match: String = "", action: Action, probability: Double = 1, count: Int? = nil, seed: UInt64 = 1) {
            self.point = point
            self.match = match
            self.action = action
            self.probability = probability
            self.count = count
            self.seed = seed
        }
    }

    /// What a fired rule asks the point to do (a delay has been waited already).
    public enum Outcome: Sendable, Equatable {
        case fail(status: Int)
        case reset
    }

    /// A fault a server point turns into its answer (a status) or a dropped connection.
    public struct Injected: Error, Sendable, Equatable, CustomStringConvertible {
        public let outcome: Outcome
        public let point: String

        public init(outcome: Outcome, point: String) {
            self.outcome = outcome
            self.point = point
        }

        public var description: String { "injected fault at \(point): \(outcome)" }

        /// The answer a server gives for it: a problem document with the status, or none (the connection
        /// is dropped).
        public var response: Response {
            switch outcome {
            case .fail(let status):
                return HTTPError(HTTPStatus(code: status), code: "injected_fault", detail: "A fault was injected at \(point).").response
            case .reset:
                var response = Response(status: HTTPStatus(code: 503))
                response.abort = true
                return response
            }
        }
    }

    private struct Armed {
        var rule: Rule
        var random: SplitMix64
        var fired = 0
    }

    private struct State {
        var enabled = false
        var rules: [Armed] = []
        var fired: [String: Int] = [:]
    }

    private let state = Mutex(State())
    /// Read without the lock on every visit: false unless a rule is armed.
    private let armed = Atomic<Bool>(false)

    public init() {}

    /// Allows rules to be set (`FAULT_INJECTION=on`).
    public func enable() { state.withLock { $0.enabled = true } }

    public var isEnabled: Bool { state.withLock { $0.enabled } }

    /// Replaces the rules. Throws when injection is not enabled or a rule names no point.
    public func set(_ rules: [Rule]) throws {
        for rule in rules where !Self.points.contains(rule.point) { throw FaultSpecError("unknown fault point \(rule.point)") }
        try state.withLock { state in
            guard state.enabled else { throw FaultSpecError("fault injection is off (FAULT_INJECTION=on)") }
            state.rules = rules.map { Armed(rule: $0, random: SplitMix64(seed: $0.seed)) }
        }
        armed.store(!rules.isEmpty, ordering: .releasing)
    }

    /// The rules with how often each fired, and the totals per `point/action`.
    public func snapshot() -> (rules: [(rule: Rule, fired: Int)], fired: [String: Int]) {
        state.withLock { state in (state.rules.map { ($0.rule, $0.fired) }, state.fired) }
    }

    /// Visits a point from async code: waits out a delay, crashes, or returns what the caller must do.
    public func visit(_ point: String, _ label: @autoclosure () -> String) async -> Outcome? {
        guard armed.load(ordering: .acquiring), let action = draw(point, label()) else { return nil }
        switch action {
        case .delay(let milliseconds):
            try? await Task.sleep(for: .milliseconds(milliseconds))
            return nil
        case .fail(let status): return .fail(status: status)
        case .reset: return .reset
        case .crash: Self.crash(point)
        }
    }

    /// Visits a point from blocking code (a database thread): a delay blocks the thread.
    public func visitBlocking(_ point: String, _ label: @autoclosure () -> String) -> Outcome? {
        guard armed.load(ordering: .acquiring), let action = draw(point, label()) else { return nil }
        switch action {
        case .delay(let milliseconds):
            usleep(useconds_t(milliseconds) * 1000)
            return nil
        case .fail(let status): return .fail(status: status)
        case .reset: return .reset
        case .crash: Self.crash(point)
        }
    }

    /// At a server point: throws `Injected` for a failure or a reset.
    public func check(_ point: String, _ label: @autoclosure () -> String) async throws {
        if let outcome = await visit(point, label()) { throw Injected(outcome: outcome, point: point) }
    }

    public func checkBlocking(_ point: String, _ label: @autoclosure () -> String) throws {
        if let outcome = visitBlocking(point, label()) { throw Injected(outcome: outcome, point: point) }
    }

    private static func crash(_ point: String) -> Never {
        let message = "fault injection: crash at \(point)\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        _exit(137)
    }

    /// The first rule at `point` matching `label` that fires this time, counted.
    private func draw(_ point: String, _ label: String) -> Action? {
        state.withLock { state in
            for index in state.rules.indices where state.rules[index].rule.point == point {
                let rule = state.rules[index].rule
                if !rule.match.isEmpty && !label.contains(rule.match) { continue }
                if let count = rule.count, state.rules[index].fired >= count { continue }
                if rule.probability < 1 {
                    // One draw per visit, from the rule's own seed.
                    if state.rules[index].random.unit() >= rule.probability { continue }
                }
                state.rules[index].fired += 1
                state.fired["\(point)/\(rule.action.name)", default: 0] += 1
                return rule.action
            }
            return nil
        }
    }
}

extension Faults.Action {
    /// `delay`, `fail`, `reset` or `crash`.
    public var name: String {
        switch self {
        case .delay: return "delay"
        case .fail: return "fail"
        case .reset: return "reset"
        case .crash: return "crash"
        }
    }
}

public struct FaultSpecError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Faults.Rule {
    /// Parses `FAULTS`: rules separated by commas, each
    /// `point[@match]:action[:p=probability][:n=count][:seed=seed]` where the action is `delay(250ms)`,
    /// `fail(503)`, `reset` or `crash`. Example: `participant.before_commit@payment.capture:fail(503):p=0.5:n=3:seed=7`.
    public static func parse(_ spec: String) throws -> [Faults.Rule] {
        try spec.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }.map(parseOne)
    }

    static func parseOne(_ text: String) throws -> Faults.Rule {
        var parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2 else { throw FaultSpecError("fault \(text): expected point:action") }
        // A match may hold colons (`payment.capture:do`): it runs up to the first part that is an action.
        while parts.count > 2, (try? action(parts[1])) == nil {
            parts[0] += ":" + parts.remove(at: 1)
        }
        let target = parts[0].split(separator: "@", maxSplits: 1).map(String.init)
        let point = target[0]
        guard Faults.points.contains(point) else { throw FaultSpecError("fault \(text): unknown point \(point)") }
        var rule = Faults.Rule(point: point, match: target.count > 1 ? target[1] : "", action: try action(parts[1]))
        for option in parts.dropFirst(2) {
            let pair = option.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { throw FaultSpecError("fault \(text): option \(option) is not name=value") }
            switch pair[0] {
            case "p":
                guard let p = Double(pair[1]), p > 0, p <= 1 else { throw FaultSpecError("fault \(text): p must be in (0, 1]") }
                rule.probability = p
            case "n":
                guard let n = Int(pair[1]), n > 0 else { throw FaultSpecError("fault \(text): n must be a positive count") }
                rule.count = n
            case "seed":
                guard let seed = UInt64(pair[1]) else { throw FaultSpecError("fault \(text): seed must be an unsigned integer") }
                rule.seed = seed
            default: throw FaultSpecError("fault \(text): unknown option \(pair[0])")
            }
        }
        return rule
    }

    static func action(_ text: String) throws -> Faults.Action {
        func argument(_ name: String) -> String? {
            guard text.hasPrefix(name + "("), text.hasSuffix(")") else { return nil }
            return String(text.dropFirst(name.count + 1).dropLast())
        }
        if text == "reset" { return .reset }
        if text == "crash" { return .crash }
        if let status = argument("fail") {
            guard let code = Int(status), (400...599).contains(code) else { throw FaultSpecError("fail(\(status)): a status 400-599") }
            return .fail(status: code)
        }
        if let delay = argument("delay") {
            let milliseconds: Int?
            if delay.hasSuffix("ms") {
                milliseconds = Int(delay.dropLast(2))
            } else if delay.hasSuffix("s") {
                milliseconds = Double(delay.dropLast()).map { Int($0 * 1000) }
            } else {
                milliseconds = Int(delay)
            }
            guard let milliseconds, (0...600_000).contains(milliseconds) else { throw FaultSpecError("delay(\(delay)): 0 to 600s") }
            return .delay(milliseconds: milliseconds)
        }
        throw FaultSpecError("unknown fault action \(text): delay(250ms), fail(503), reset or crash")
    }
}
