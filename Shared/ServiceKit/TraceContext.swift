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
        traceID = String(decoding: parts[1], as: UTF8.self)
        spanID = String(decoding: parts[2], as: UTF8.self)
        flags = String(decoding: parts[3], as: UTF8.self)
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
