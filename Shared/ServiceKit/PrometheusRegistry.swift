import CoreMetrics
import FoundationEssentials
import Synchronization

/// A swift-metrics backend that keeps every metric in memory and renders the Prometheus text format
/// (https://prometheus.io/docs/instrumenting/exposition_formats/) for `GET /metrics`.
///
/// Counters are counters, meters and non-aggregating recorders are gauges, timers and aggregating
/// recorders are histograms (timers in seconds).
public final class PrometheusRegistry: MetricsFactory, Sendable {
    private let state = Mutex(State())
    public let buckets: [Double]

    private struct State {
        var metrics: [String: Metric] = [:]
    }

    private struct Key: Hashable {
        let name: String
        let labels: String
    }

    final class Metric: CounterHandler, FloatingPointCounterHandler, RecorderHandler, MeterHandler, TimerHandler, Sendable {
        enum Kind: String {
            case counter
            case gauge
            case histogram
        }

        let kind: Kind
        let name: String
        let labels: [(String, String)]
        let scale: Double
        let buckets: [Double]
        private let value = Mutex<(sum: Double, count: UInt64, bucketCounts: [UInt64])>((0, 0, []))

        init(kind: Kind, name: String, labels: [(String, String)], buckets: [Double], scale: Double = 1) {
            self.kind = kind
            self.name = name
            self.labels = labels
            self.buckets = buckets
            self.scale = scale
            value.withLock { $0.bucketCounts = [UInt64](repeating: 0, count: buckets.count) }
        }

        func increment(by amount: Int64) { increment(by: Double(amount)) }
        func increment(by amount: Double) { value.withLock { $0.sum += amount } }
        func decrement(by amount: Double) { value.withLock { $0.sum -= amount } }
        func reset() { value.withLock { $0 = (0, 0, [UInt64](repeating: 0, count: buckets.count)) } }
        func set(_ v: Int64) { set(Double(v)) }
        func set(_ v: Double) { value.withLock { $0.sum = v } }
        func record(_ v: Int64) { record(Double(v)) }
        func record(_ v: Double) {
            if kind == .gauge {
                set(v)
                return
            }
            let scaled = v * scale
            value.withLock { state in
                state.sum += scaled
                state.count += 1
                if let index = buckets.firstIndex(where: { scaled <= $0 }) { state.bucketCounts[index] += 1 }
            }
        }
        func recordNanoseconds(_ duration: Int64) { record(Double(duration)) }

        var snapshot: (sum: Double, count: UInt64, bucketCounts: [UInt64]) { value.withLock { $0 } }
    }

    public init(buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]) {
        self.buckets = buckets
    }

    private func metric(_ kind: Metric.Kind, _ label: String, _ dimensions: [(String, String)], scale: Double = 1) -> Metric {
        let name = Self.sanitize(label)
        let labels = dimensions.map { (Self.sanitize($0.0), $0.1) }.sorted { $0.0 < $1.0 }
        let key = Key(name: name, labels: labels.map { "\($0.0)=\($0.1)" }.joined(separator: "\u{1}"))
        return state.withLock { state in
            if let existing = state.metrics["\(key.name)\u{2}\(key.labels)"] { return existing }
            let created = Metric(kind: kind, name: name, labels: labels, buckets: buckets, scale: scale)
            state.metrics["\(key.name)\u{2}\(key.labels)"] = created
            return created
        }
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler { metric(.counter, label, dimensions) }
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> FloatingPointCounterHandler {
        metric(.counter, label, dimensions)
    }
    public func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler { metric(.gauge, label, dimensions) }
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        metric(aggregate ? .histogram : .gauge, label, dimensions)
    }
    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler {
        metric(.histogram, label, dimensions, scale: 1e-9)
    }
    public func destroyCounter(_ handler: CounterHandler) {}
    public func destroyFloatingPointCounter(_ handler: FloatingPointCounterHandler) {}
    public func destroyMeter(_ handler: MeterHandler) {}
    public func destroyRecorder(_ handler: RecorderHandler) {}
    public func destroyTimer(_ handler: TimerHandler) {}

    /// Every metric in the Prometheus text exposition format, version 0.0.4.
    public func render() -> String {
        let metrics = state.withLock { Array($0.metrics.values) }.sorted {
            ($0.name, $0.labels.map { "\($0.0)=\($0.1)" }.joined()) < ($1.name, $1.labels.map { "\($0.0)=\($0.1)" }.joined())
        }
        var out = ""
        var typed = Set<String>()
        for metric in metrics {
            if typed.insert(metric.name).inserted {
                out += "# TYPE \(metric.name) \(metric.kind.rawValue)\n"
            }
            let snapshot = metric.snapshot
            switch metric.kind {
            case .counter, .gauge:
                out += "\(metric.name)\(Self.labelText(metric.labels)) \(Self.number(snapshot.sum))\n"
            case .histogram:
                var cumulative: UInt64 = 0
                for (bound, count) in zip(metric.buckets, snapshot.bucketCounts) {
                    cumulative += count
                    out += "\(metric.name)_bucket\(Self.labelText(metric.labels + [("le", Self.number(bound))])) \(cumulative)\n"
                }
                out += "\(metric.name)_bucket\(Self.labelText(metric.labels + [("le", "+Inf")])) \(snapshot.count)\n"
                out += "\(metric.name)_sum\(Self.labelText(metric.labels)) \(Self.number(snapshot.sum))\n"
                out += "\(metric.name)_count\(Self.labelText(metric.labels)) \(snapshot.count)\n"
            }
        }
        return out
    }

    static func sanitize(_ name: String) -> String {
        var out = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") ? $0 : "_" })
        if let first = out.first, first.isNumber { out = "_" + out }
        return out
    }

    private static func labelText(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        let escaped = labels.map { key, value in
            let v = value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
                .replacing("\n", with: "\\n")
            return "\(key)=\"\(v)\""
        }
        return "{" + escaped.joined(separator: ",") + "}"
    }

    private static func number(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
