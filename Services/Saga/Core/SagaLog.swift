import Contracts
import FoundationEssentials

/// A saga's durable log: at a step boundary the saga service appends what changed (one small row) instead
/// of rewriting the whole state, and a saga is rebuilt by folding its entries, in order, into the snapshot
/// before them (the `state` the store writes when a saga starts, changes status, renews its lease or
/// finishes).
///
/// An entry is a JSON object with the interpreter's members (version, status, step in progress, applied
/// steps, attempts, failure), the timeline from record `from` on (the records before it did not change),
/// and a checkout's price once known. It never holds the payment token or the address: those are sealed in
/// the snapshot only.
public struct SagaLogEntry: Sendable, Equatable {
    public let from: Int
    public let progress: SagaProgress
    public let totalCents: Int64?
    public let currency: String?

    /// The entry that takes `previous` to `saga`; nil when nothing changed.
    public static func json(from previous: some OrchestratedSaga, to saga: some OrchestratedSaga) -> String? {
        let (old, new) = (previous.progress, saga.progress)
        guard old != new || previous.priceMembers != saga.priceMembers else { return nil }
        let common = zip(old.timeline, new.timeline).prefix { $0 == $1 }.count
        return "{\"from\":\(common)" + saga.priceMembers + new.jsonMembers(timelineFrom: common) + "}"
    }

    /// Reads an entry of a saga whose definitions are `definitions` (by version).
    public init(json: String, definitions: [Int: SagaDefinition]) throws {
        let decoder = JSONDecoder()
        decoder.userInfo[Self.definitionsKey] = definitions
        self = try decoder.decode(Stored.self, from: Data(json.utf8)).entry
    }

    /// The progress after this entry, folded into `base` (the state before it).
    func folded(into base: SagaProgress) throws -> SagaProgress {
        guard from <= base.timeline.count, progress.definition == base.definition else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "a saga log entry from record \(from) of \(base.timeline.count)")
            )
        }
        var next = progress
        next.timeline = Array(base.timeline.prefix(from)) + progress.timeline
        return next
    }

    private static let definitionsKey = CodingUserInfoKey(rawValue: "sagaDefinitions")!

    private struct Stored: Decodable {
        let entry: SagaLogEntry

        private enum Keys: String, CodingKey { case from, totalCents, currency }

        init(from decoder: any Decoder) throws {
            guard let definitions = decoder.userInfo[SagaLogEntry.definitionsKey] as? [Int: SagaDefinition] else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "no saga definitions"))
            }
            let container = try decoder.container(keyedBy: Keys.self)
            entry = SagaLogEntry(
                from: try container.decode(Int.self, forKey: .from),
                progress: try SagaProgress(from: decoder, definitions: definitions),
                totalCents: try container.decodeIfPresent(Int64.self, forKey: .totalCents),
                currency: try container.decodeIfPresent(String.self, forKey: .currency)
            )
        }
    }

    private init(from: Int, progress: SagaProgress, totalCents: Int64?, currency: String?) {
        self.from = from
        self.progress = progress
        self.totalCents = totalCents
        self.currency = currency
    }
}

extension OrchestratedSaga {
    /// A checkout's price members as JSON text (a leading comma each), empty for other kinds.
    var priceMembers: String {
        guard let checkout = self as? CheckoutSaga else { return "" }
        var out = ""
        if let total = checkout.totalCents { out += ",\"totalCents\":\(total)" }
        if let currency = checkout.currency { out += ",\"currency\":" + JSONText.quote(currency) }
        return out
    }
}

extension CheckoutSaga {
    /// The saga after its log entries (JSON text, in order).
    public func folding(_ entries: [String]) throws -> CheckoutSaga {
        var saga = self
        for json in entries {
            let entry = try SagaLogEntry(json: json, definitions: SagaDefinition.checkouts)
            saga.progress = try entry.folded(into: saga.progress)
            if let total = entry.totalCents { saga.totalCents = total }
            if let currency = entry.currency { saga.currency = currency }
        }
        return saga
    }
}

extension CancellationSaga {
    /// The saga after its log entries (JSON text, in order).
    public func folding(_ entries: [String]) throws -> CancellationSaga {
        var saga = self
        for json in entries {
            saga.progress = try SagaLogEntry(json: json, definitions: SagaDefinition.cancellations).folded(into: saga.progress)
        }
        return saga
    }
}
