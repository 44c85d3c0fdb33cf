import Contracts
import Platform

/// A W3C Trace Context (https://www.w3.org/TR/trace-context/): trace id, the caller's span id, flags.
public struct TraceContext: Sendable, Equatable {
    /// 32 lowercase hex digits, not all zero.
    public let traceID: String
    /// 16 lowercase hex digits of the span this context points at.
    public let spanID: String
    public let flags: String

    public init(traceID: String, spanID: String, flags: String = "01") {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
    }

    /// Parses a `traceparent` header (version 00); nil when it is malformed, which starts a new trace.
    public init?(traceparent: String) {
        guard let fields = TraceContext.fields(of: traceparent) else { return nil }
        traceID = String(decoding: fields.trace, as: UTF8.self)
        spanID = String(decoding: fields.span, as: UTF8.self)
        flags = String(decoding: fields.flags, as: UTF8.self)
    }

    /// The trace id, parent span id and flags of a valid `traceparent`, as slices of its bytes.
    private static func fields(of traceparent: String) -> (trace: Substring.UTF8View, span: Substring.UTF8View, flags: Substring.UTF8View)?
    {
        // Byte by byte: this runs for every request of every service.
        var bytes = Substring(traceparent).utf8[...]
        while bytes.first == 0x20 || bytes.first == 0x09 { bytes = bytes.dropFirst() }
        while bytes.last == 0x20 || bytes.last == 0x09 { bytes = bytes.dropLast() }
        let parts = bytes.split(separator: 0x2D, omittingEmptySubsequences: false)
        func lowerHex(_ part: Substring.UTF8View.SubSequence) -> Bool {
            part.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
        guard parts.count >= 4, parts[0].count == 2, parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
            parts.allSatisfy(lowerHex), !parts[0].elementsEqual("ff".utf8),
            parts[1].contains(where: { $0 != 0x30 }), parts[2].contains(where: { $0 != 0x30 })
        else { return nil }
        if parts[0].elementsEqual("00".utf8) && parts.count != 4 { return nil }
        return (parts[1], parts[2], parts[3])
    }

    /// This service's `traceparent` for a request that arrived with `header`: a new span as a child of a
    /// valid incoming one, else a new trace. The same as `TraceContext(traceparent:)?.child() ?? newRoot()`
    /// then `.traceparent`, written straight into one string (every request of every service makes one;
    /// the three strings of the long way were a tenth of an echo request's allocations).
    public static func traceparent(continuing header: String?) -> String {
        let parent = header.flatMap(fields(of:))
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { random in
            // A new trace id (16 bytes) only without a parent; a new span id (8 bytes) always.
            let fresh = parent == nil ? random : UnsafeMutableBufferPointer(rebasing: random[16..<24])
            SecureRandom.fill(fresh)
            return String(unsafeUninitializedCapacity: 55) { out in
                var index = 0
                func put(_ bytes: some Sequence<UInt8>) {
                    for byte in bytes {
                        out[index] = byte
                        index += 1
                    }
                }
                func hex(_ range: Range<Int>) {
                    for byte in random[range] {
                        out[index] = Hex.digit(byte >> 4)
                        out[index + 1] = Hex.digit(byte & 0x0F)
                        index += 2
                    }
                }
                put("00-".utf8)
                if let parent { put(parent.trace) } else { hex(0..<16) }
                put("-".utf8)
                hex(16..<24)
                put("-".utf8)
                if let parent { put(parent.flags) } else { put("01".utf8) }
                return index
            }
        }
    }

    /// A new trace with a new root span.
    public static func newRoot() -> TraceContext {
        TraceContext(traceID: randomHex(16), spanID: randomHex(8))
    }

    /// A child span of this one: same trace, new span id. This service's span for a request it received.
    public func child() -> TraceContext {
        TraceContext(traceID: traceID, spanID: TraceContext.randomHex(8), flags: flags)
    }

    public var traceparent: String { "00-\(traceID)-\(spanID)-\(flags)" }

    static func randomHex(_ count: Int) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { bytes in
            SecureRandom.fill(bytes)
            return Hex.encode(UnsafeBufferPointer(bytes))
        }
    }
}
extension Character {
    fileprivate var isHexDigit: Bool { ("0"..."9").contains(self) || ("a"..."f").contains(self) || ("A"..."F").contains(self) }
}
