import Contracts
import FoundationEssentials
import Glibc
import HTTP
import Logging
import Storage
import Synchronization

/// Where log lines go: standard error in a service, memory in tests.
public protocol LogSink: Sendable {
    func write(line: String)
}

/// Writes each line to standard error with one `write(2)`, so lines from threads never interleave.
public struct StandardErrorSink: LogSink {
    public init() {}
    public func write(line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

/// Keeps lines in memory (tests).
public final class MemoryLogSink: LogSink {
    private let storage = Mutex<[String]>([])
    public init() {}
    public func write(line: String) { storage.withLock { $0.append(line) } }
    public var lines: [String] { storage.withLock { $0 } }
}

/// The two log formats: JSON lines for machines (default), text for people.
public enum LogFormat: String, Sendable, ConfigValue {
    case json
    case text

    public static func parse(_ text: String) -> LogFormat? { LogFormat(rawValue: text.lowercased()) }
    public static var expectation: String { "json or text" }
}

extension Logger.Level: ConfigValue {
    public static func parse(_ text: String) -> Logger.Level? { Logger.Level(rawValue: text.lowercased()) }
    public static var expectation: String { "one of trace, debug, info, notice, warning, error, critical" }
}

/// A swift-log handler writing one line per event with `ts`, `level`, `service`, `msg`, the metadata,
/// and the `request_id` and `trace_id` of the request being served (from `RequestContext`).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    private let label: String
    private let service: String
    private let format: LogFormat
    private let sink: LogSink

    public init(label: String, service: String, level: Logger.Level = .info, format: LogFormat = .json, sink: LogSink = StandardErrorSink())
    {
        self.label = label
        self.service = service
        self.logLevel = level
        self.format = format
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var fields: [(String, String)] = [
            ("ts", Storage.Timestamp.format(Date())),
            ("level", event.level.rawValue),
            ("service", service),
            ("logger", label),
            ("msg", event.message.description),
        ]
        if let context = RequestContext.current {
            fields.append(("request_id", context.requestID))
            if let traceparent = context.traceparent, let trace = TraceContext(traceparent: traceparent) {
                fields.append(("trace_id", trace.traceID))
                fields.append(("span_id", trace.spanID))
            }
        }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !fields.contains(where: { $0.0 == key }) {
            fields.append((key, "\(value)"))
        }
        switch format {
        case .json:
            sink.write(line: "{" + fields.map { "\(JSONText.quote($0.0)):\(JSONText.quote($0.1))" }.joined(separator: ",") + "}")
        case .text:
            let rest = fields.dropFirst(5).map { "\($0.0)=\($0.1)" }.joined(separator: " ")
            sink.write(line: "\(fields[0].1) \(event.level.rawValue.uppercased()) \(service) \(event.message) \(rest)")
        }
    }
}
