import FoundationEssentials
import HTTP

/// Turns stored events of older versions into the current version when they are read, so handlers and
/// aggregates only know the newest shape of each event type while old events stay as they were written
/// (an event store is append-only; rewriting history is not an option).
///
/// Each registered step takes an event type from version `n` to `n + 1`; `upcast` chains them.
public struct EventUpcaster: Sendable {
    public typealias Step = @Sendable (String) throws -> String

    private var steps: [String: [Int: Step]] = [:]

    public init() {}

    /// Registers how `type` at `version` becomes `version + 1`, on the JSON text of the payload.
    public mutating func register(_ type: String, from version: Int, _ step: @escaping Step) {
        steps[type, default: [:]][version] = step
    }

    /// Registers a typed step: the old payload is decoded as `Old`, converted, and encoded again.
    public mutating func register<Old: Decodable & SendableMetatype, New: Encodable & SendableMetatype>(
        _ type: String,
        from version: Int,
        as old: Old.Type,
        _ convert: @escaping @Sendable (Old) -> New
    ) {
        register(type, from: version) { text in
            let value = try JSON.decoder().decode(Old.self, from: Data(text.utf8))
            return String(decoding: try JSON.encode(convert(value)), as: UTF8.self)
        }
    }

    /// The payload brought to the newest version this upcaster knows for its type.
    public func upcast(type: String, version: Int, data: String) throws -> (version: Int, data: String) {
        var (version, data) = (version, data)
        while let step = steps[type]?[version] {
            data = try step(data)
            version += 1
        }
        return (version, data)
    }

    /// The event with its payload upcast.
    public func upcast(_ event: StoredEvent) throws -> StoredEvent {
        let (version, data) = try upcast(type: event.type, version: event.version, data: event.data)
        if version == event.version { return event }
        return StoredEvent(
            seq: event.seq,
            id: event.id,
            type: event.type,
            version: version,
            aggregateId: event.aggregateId,
            occurredAt: event.occurredAt,
            traceparent: event.traceparent,
            data: data
        )
    }
}
