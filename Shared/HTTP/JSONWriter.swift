import FoundationEssentials
import Glibc
import Platform

/// A JSON encoder for this system's messages that writes exactly what `JSON.encoder()` writes (sorted keys,
/// ISO 8601 dates to the second, slashes unescaped) at a fraction of the cost: `JSONEncoder` was 3-8 % of
/// each service's CPU in the checkout benchmark, most of it in its reference tree, coding paths and
/// generic dispatch. A value holding a type whose text this writer does not reproduce byte for byte
/// (floating point, `Data`, `Decimal`, `URL`, a super encoder) makes `encode` return nil, and the caller
/// uses `JSONEncoder`. `JSONWriterTests` compares the two on every message type.
public enum JSONWriter {
    /// The value's JSON text, or nil when it holds a type only `JSONEncoder` writes.
    /// `escapingSlashes`: `/` written `\/`, as JSONEncoder does without `.withoutEscapingSlashes` (a slash can
    /// only stand inside a string of the text, so every one is escaped).
    public static func encode(_ value: some Encodable, escapingSlashes: Bool = false) throws -> [UInt8]? {
        let root: Node
        do {
            root = try Node.of(value, topLevel: true)
        } catch is Unsupported {
            return nil
        }
        var out: [UInt8] = []
        out.reserveCapacity(256)
        root.write(into: &out)
        guard escapingSlashes, out.contains(UInt8(ascii: "/")) else { return out }
        var escaped: [UInt8] = []
        escaped.reserveCapacity(out.count + 8)
        for byte in out {
            if byte == UInt8(ascii: "/") { escaped.append(UInt8(ascii: "\\")) }
            escaped.append(byte)
        }
        return escaped
    }

    /// Thrown inside when a value needs `JSONEncoder`.
    struct Unsupported: Error {}

    /// A value being encoded: scalars as they are, objects and arrays as references their containers fill.
    enum Node {
        case null
        case bool(Bool)
        case int(Int64)
        case uint(UInt64)
        case string(String)
        case date(Date)
        case array(ArrayBox)
        case object(ObjectBox)
        /// An encoder's value, read when written (a nested encoder may still be filling it).
        case pending(Encoding)

        /// `topLevel`: a value that encodes nothing is JSONEncoder's error there, `{}` inside another.
        static func of(_ value: some Encodable, topLevel: Bool = false) throws -> Node {
            // One conformance check for every scalar (a cast per type was most of the writer's time).
            if let scalar = value as? any JSONWriterScalar { return try scalar.jsonNode }
            let encoding = Encoding()
            try value.encode(to: encoding)
            if encoding.node == nil && topLevel { throw Unsupported() }
            return encoding.node ?? .object(ObjectBox())
        }

        func write(into out: inout [UInt8]) {
            switch self {
            case .null: out.append(contentsOf: "null".utf8)
            case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
            case .int(let number): JSONWriter.write(number, into: &out)
            case .uint(let number): JSONWriter.write(number, into: &out)
            case .string(let text): JSONWriter.write(text, into: &out)
            case .date(let date): JSONWriter.write(date, into: &out)
            case .array(let box):
                out.append(UInt8(ascii: "["))
                for (index, item) in box.items.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    item.write(into: &out)
                }
                out.append(UInt8(ascii: "]"))
            case .object(let box):
                out.append(UInt8(ascii: "{"))
                // JSONEncoder's sortedKeys: byte order of the keys (`a10` before `a9`, `Z` before `a`); a key
                // given twice keeps its last value.
                var members = box.members
                // The standard library's sort is stable: of a key given twice, the last stays last.
                if members.count > 1 { members.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) } }
                var first = true
                for (index, member) in members.enumerated() {
                    if index + 1 < members.count && members[index + 1].key == member.key { continue }
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    JSONWriter.write(member.key, into: &out)
                    out.append(UInt8(ascii: ":"))
                    member.value.write(into: &out)
                }
                out.append(UInt8(ascii: "}"))
            case .pending(let encoding): (encoding.node ?? .object(ObjectBox())).write(into: &out)
            }
        }
    }

    final class ArrayBox {
        var items: [Node] = []
    }

    final class ObjectBox {
        var members: [(key: String, value: Node)] = []
    }

    /// The `Encoder` a type's `encode(to:)` writes into.
    final class Encoding: Encoder {
        var node: Node?
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            if case .object(let box)? = node { return KeyedEncodingContainer(Keyed<Key>(box: box)) }
            let box = ObjectBox()
            node = .object(box)
            return KeyedEncodingContainer(Keyed<Key>(box: box))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            if case .array(let box)? = node { return Unkeyed(box: box) }
            let box = ArrayBox()
            node = .array(box)
            return Unkeyed(box: box)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer { Single(encoding: self) }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let box: ObjectBox
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws { box.members.append((key.stringValue, .null)) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { box.members.append((key.stringValue, .bool(value))) }
        mutating func encode(_ value: String, forKey key: Key) throws { box.members.append((key.stringValue, .string(value))) }
        mutating func encode(_ value: Int, forKey key: Key) throws { box.members.append((key.stringValue, .int(Int64(value)))) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { box.members.append((key.stringValue, .int(value))) }
        mutating func encode(_ value: Double, forKey key: Key) throws { throw Unsupported() }
        mutating func encode(_ value: Float, forKey key: Key) throws { throw Unsupported() }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            box.members.append((key.stringValue, try Node.of(value)))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type,
            forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            let nested = ObjectBox()
            box.members.append((key.stringValue, .object(nested)))
            return KeyedEncodingContainer(Keyed<NestedKey>(box: nested))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let nested = ArrayBox()
            box.members.append((key.stringValue, .array(nested)))
            return Unkeyed(box: nested)
        }

        mutating func superEncoder() -> any Encoder { superEncoder(key: "super") }
        mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(key: key.stringValue) }

        private func superEncoder(key: String) -> any Encoder {
            let encoding = Encoding()
            box.members.append((key, .pending(encoding)))
            return encoding
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let box: ArrayBox
        var codingPath: [any CodingKey] { [] }
        var count: Int { box.items.count }

        mutating func encodeNil() throws { box.items.append(.null) }
        mutating func encode(_ value: Bool) throws { box.items.append(.bool(value)) }
        mutating func encode(_ value: String) throws { box.items.append(.string(value)) }
        mutating func encode(_ value: Int) throws { box.items.append(.int(Int64(value))) }
        mutating func encode(_ value: Double) throws { throw Unsupported() }
        mutating func encode(_ value: Float) throws { throw Unsupported() }
        mutating func encode<T: Encodable>(_ value: T) throws { box.items.append(try Node.of(value)) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            let nested = ObjectBox()
            box.items.append(.object(nested))
            return KeyedEncodingContainer(Keyed<NestedKey>(box: nested))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let nested = ArrayBox()
            box.items.append(.array(nested))
            return Unkeyed(box: nested)
        }

        mutating func superEncoder() -> any Encoder {
            let encoding = Encoding()
            box.items.append(.pending(encoding))
            return encoding
        }
    }

    struct Single: SingleValueEncodingContainer {
        let encoding: Encoding
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil() throws { encoding.node = .null }
        mutating func encode(_ value: Bool) throws { encoding.node = .bool(value) }
        mutating func encode(_ value: String) throws { encoding.node = .string(value) }
        mutating func encode(_ value: Int) throws { encoding.node = .int(Int64(value)) }
        mutating func encode(_ value: Double) throws { throw Unsupported() }
        mutating func encode(_ value: Float) throws { throw Unsupported() }
        mutating func encode<T: Encodable>(_ value: T) throws { encoding.node = try Node.of(value) }
    }

    // MARK: - Text

    static func write(_ number: Int64, into out: inout [UInt8]) {
        if number < 0 {
            out.append(UInt8(ascii: "-"))
            write(number.magnitude, into: &out)
        } else {
            write(UInt64(number), into: &out)
        }
    }

    static func write(_ number: UInt64, into out: inout [UInt8]) {
        if number < 10 {
            out.append(UInt8(ascii: "0") + UInt8(number))
            return
        }
        let start = out.count
        var rest = number
        while rest > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        }
        out[start...].reverse()
    }

    /// A string literal escaped as JSONEncoder does: `"` and `\`, `\b \t \n \f \r` by name, other control
    /// characters as `\u00XX`; everything else (slashes, U+2028, non-ASCII) as it is.
    static func write(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                start = index + 1
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                default:
                    out.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, Hex.digit(byte >> 4), Hex.digit(byte & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `"2026-12-01T03:27:19Z"`: JSONEncoder's `.iso8601`, whole seconds rounded down.
    static func write(_ date: Date, into out: inout [UInt8]) {
        var whole = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&whole, &parts)
        func digits(_ value: Int32, _ count: Int, then separator: Character) {
            var divisor: Int32 = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
            out.append(separator.asciiValue!)
        }
        out.append(UInt8(ascii: "\""))
        digits(parts.tm_year + 1900, 4, then: "-")
        digits(parts.tm_mon + 1, 2, then: "-")
        digits(parts.tm_mday, 2, then: "T")
        digits(parts.tm_hour, 2, then: ":")
        digits(parts.tm_min, 2, then: ":")
        digits(parts.tm_sec, 2, then: "Z")
        out.append(UInt8(ascii: "\""))
    }
}

/// A value `JSONWriter` writes itself, or refuses (`Double`, `Data`, ...: JSONEncoder's text for them is its own).
protocol JSONWriterScalar {
    var jsonNode: JSONWriter.Node { get throws }
}

extension String: JSONWriterScalar { var jsonNode: JSONWriter.Node { .string(self) } }
extension Int: JSONWriterScalar { var jsonNode: JSONWriter.Node { .int(Int64(self)) } }
extension Int64: JSONWriterScalar { var jsonNode: JSONWriter.Node { .int(self) } }
extension Int32: JSONWriterScalar { var jsonNode: JSONWriter.Node { .int(Int64(self)) } }
extension Int16: JSONWriterScalar { var jsonNode: JSONWriter.Node { .int(Int64(self)) } }
extension Int8: JSONWriterScalar { var jsonNode: JSONWriter.Node { .int(Int64(self)) } }
extension UInt: JSONWriterScalar { var jsonNode: JSONWriter.Node { .uint(UInt64(self)) } }
extension UInt64: JSONWriterScalar { var jsonNode: JSONWriter.Node { .uint(self) } }
extension UInt32: JSONWriterScalar { var jsonNode: JSONWriter.Node { .uint(UInt64(self)) } }
extension UInt16: JSONWriterScalar { var jsonNode: JSONWriter.Node { .uint(UInt64(self)) } }
extension UInt8: JSONWriterScalar { var jsonNode: JSONWriter.Node { .uint(UInt64(self)) } }
extension Bool: JSONWriterScalar { var jsonNode: JSONWriter.Node { .bool(self) } }
extension Double: JSONWriterScalar { var jsonNode: JSONWriter.Node { get throws { throw JSONWriter.Unsupported() } } }
extension Float: JSONWriterScalar { var jsonNode: JSONWriter.Node { get throws { throw JSONWriter.Unsupported() } } }
extension Data: JSONWriterScalar { var jsonNode: JSONWriter.Node { get throws { throw JSONWriter.Unsupported() } } }
extension Decimal: JSONWriterScalar { var jsonNode: JSONWriter.Node { get throws { throw JSONWriter.Unsupported() } } }
extension URL: JSONWriterScalar { var jsonNode: JSONWriter.Node { get throws { throw JSONWriter.Unsupported() } } }

extension Date: JSONWriterScalar {
    var jsonNode: JSONWriter.Node {
        get throws {
            // From 1900 to 9999: before, JSONEncoder's calendar turns Julian (1582) and its years stop being
            // four digits (1), so those are left to it.
            guard timeIntervalSince1970 >= -2_208_988_800, timeIntervalSince1970 < 253_402_300_800 else { throw JSONWriter.Unsupported() }
            return .date(self)
        }
    }
}
