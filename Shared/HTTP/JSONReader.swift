import FoundationEssentials
import Glibc
import Platform

/// A JSON decoder for this system's messages that gives what `JSON.decoder()` gives, at a fraction of the
/// cost: `JSONDecoder` was 5.8 % of all CPU in the checkout benchmark (18 % of the gateway's event loops).
///
/// The text is parsed once into a flat list of nodes (no strings built for keys; a member is found by
/// comparing its key's bytes), then read through `Decoder`. Only what it reproduces exactly is read here:
/// strings, booleans, integers written as integers, null, objects and arrays. Anything else (a floating-point
/// or `Date`, `Data`, `URL` or `Decimal` value, a number with a fraction or exponent read as an integer, a
/// duplicate key, a lone surrogate) and every error goes to `JSONDecoder`, which decides: `JSON.decode` runs
/// it again there, so errors and their coding paths are Foundation's own, and no coding path is kept here
/// (`codingPath` is empty: building one per value took half the reader's time on the saga's checkout view).
/// `JSONReaderTests` compares the two on every message type and on mutated texts.
public enum JSONReader {
    /// The decoded value, or an error when this reader does not decode the text (the caller asks
    /// `JSONDecoder`, which either decodes it or says what is wrong).
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let document = try bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer)
            return Document(bytes: bytes, nodes: try parser.parseDocument())
        }
        let value = try document.decode(type, at: 0)
        // A question a container could not throw from (`contains`, `allKeys`) met a duplicate key.
        guard !document.unsure else { throw Unsupported() }
        return value
    }

    /// Why the reader handed a text to `JSONDecoder`.
    struct Unsupported: Error {}

    enum Kind: UInt8 {
        case null, `true`, `false`, number, string, array, object
    }

    /// One value of the text: its kind, its bytes (a string's without quotes), the index of the node after
    /// its subtree, and for an array or object how many elements or members it holds. An object's members
    /// are its key and value nodes, one after the other.
    struct Node {
        var kind: Kind
        var escaped = false
        var start: Int32
        var end: Int32
        var after: Int32 = 0
        var count: Int32 = 0
    }

    /// Parses RFC 8259 JSON text strictly; everything it refuses is refused by `JSONDecoder` too, or read there.
    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0
        var nodes: [Node] = []
        static let maxDepth = 256

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
            nodes.reserveCapacity(32)
        }

        mutating func parseDocument() throws -> [Node] {
            guard bytes.count < Int(Int32.max) else { throw Unsupported() }
            try value(depth: 0)
            skipWhitespace()
            guard position == bytes.count else { throw Unsupported() }
            return nodes
        }

        private mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        private mutating func value(depth: Int) throws {
            skipWhitespace()
            guard position < bytes.count, depth < Self.maxDepth else { throw Unsupported() }
            let index = nodes.count
            switch bytes[position] {
            case UInt8(ascii: "{"):
                nodes.append(Node(kind: .object, start: Int32(position), end: 0))
                position += 1
                var members: Int32 = 0
                skipWhitespace()
                if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
                    position += 1
                } else {
                    while true {
                        skipWhitespace()
                        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw Unsupported() }
                        try string()
                        skipWhitespace()
                        guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw Unsupported() }
                        position += 1
                        try value(depth: depth + 1)
                        members += 1
                        skipWhitespace()
                        guard position < bytes.count else { throw Unsupported() }
                        if bytes[position] == UInt8(ascii: ",") {
                            position += 1
                        } else if bytes[position] == UInt8(ascii: "}") {
                            position += 1
                            break
                        } else {
                            throw Unsupported()
                        }
                    }
                }
                nodes[index].count = members
                nodes[index].end = Int32(position)
            case UInt8(ascii: "["):
                nodes.append(Node(kind: .array, start: Int32(position), end: 0))
                position += 1
                var elements: Int32 = 0
                skipWhitespace()
                if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
                    position += 1
                } else {
                    while true {
                        try value(depth: depth + 1)
                        elements += 1
                        skipWhitespace()
                        guard position < bytes.count else { throw Unsupported() }
                        if bytes[position] == UInt8(ascii: ",") {
                            position += 1
                        } else if bytes[position] == UInt8(ascii: "]") {
                            position += 1
                            break
                        } else {
                            throw Unsupported()
                        }
                    }
                }
                nodes[index].count = elements
                nodes[index].end = Int32(position)
            case UInt8(ascii: "\""):
                try string()
            case UInt8(ascii: "t"):
                try literal("true", .true)
            case UInt8(ascii: "f"):
                try literal("false", .false)
            case UInt8(ascii: "n"):
                try literal("null", .null)
            default:
                try number()
            }
            nodes[index].after = Int32(nodes.count)
        }

        private mutating func literal(_ text: StaticString, _ kind: Kind) throws {
            let count = text.utf8CodeUnitCount
            guard position + count <= bytes.count else { throw Unsupported() }
            for offset in 0..<count where bytes[position + offset] != text.utf8Start[offset] { throw Unsupported() }
            nodes.append(Node(kind: kind, start: Int32(position), end: Int32(position + count)))
            position += count
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        private mutating func number() throws {
            let start = position
            func digits() throws {
                let first = position
                while position < bytes.count, bytes[position] &- 0x30 < 10 { position += 1 }
                guard position > first else { throw Unsupported() }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard position < bytes.count else { throw Unsupported() }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
            } else {
                try digits()
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                try digits()
            }
            if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                    position += 1
                }
                try digits()
            }
            nodes.append(Node(kind: .number, start: Int32(start), end: Int32(position)))
        }

        /// A string's node, its bytes between the quotes; escapes are checked here and resolved when read.
        /// Bytes past ASCII must be well-formed UTF-8.
        private mutating func string() throws {
            position += 1
            let start = position
            var escaped = false
            var ascii = true
            while true {
                guard position < bytes.count else { throw Unsupported() }
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") { break }
                if byte < 0x20 { throw Unsupported() }
                if byte >= 0x80 { ascii = false }
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    position += 1
                    guard position < bytes.count else { throw Unsupported() }
                    switch bytes[position] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        break
                    case UInt8(ascii: "u"):
                        guard position + 4 < bytes.count else { throw Unsupported() }
                        for offset in 1...4 where Hex.value(bytes[position + offset]) == nil { throw Unsupported() }
                        position += 4
                    default:
                        throw Unsupported()
                    }
                }
                position += 1
            }
            if !ascii {
                guard String(validating: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self) != nil else {
                    throw Unsupported()
                }
            }
            nodes.append(Node(kind: .string, escaped: escaped, start: Int32(start), end: Int32(position)))
            position += 1
        }
    }

    /// The parsed text: its bytes and nodes, read by the containers.
    final class Document: @unchecked Sendable {
        let bytes: [UInt8]
        let nodes: [Node]
        /// Set when `contains` or `allKeys` met what only `JSONDecoder` may judge.
        var unsure = false

        init(bytes: [UInt8], nodes: [Node]) {
            self.bytes = bytes
            self.nodes = nodes
        }

        func decode<T: Decodable>(_ type: T.Type, at index: Int) throws -> T {
            // Scalars without a decoder of their own (one conformance check for all of them).
            if let scalar = type as? any JSONReaderScalar.Type { return try scalar.read(self, index) as! T }
            if type == Date.self || type == Data.self || type == URL.self || type == Decimal.self { throw Unsupported() }
            return try T(from: ValueDecoder(document: self, index: index))
        }

        /// The string at `index`, its escapes resolved.
        func string(at index: Int) throws -> String {
            let node = nodes[index]
            guard node.kind == .string else { throw Unsupported() }
            return try bytes.withUnsafeBufferPointer { buffer in
                let slice = UnsafeBufferPointer(rebasing: buffer[Int(node.start)..<Int(node.end)])
                if !node.escaped { return String(decoding: slice, as: UTF8.self) }
                return try Self.unescape(slice)
            }
        }

        private static func unescape(_ text: UnsafeBufferPointer<UInt8>) throws -> String {
            var out: [UInt8] = []
            out.reserveCapacity(text.count)
            var position = 0
            while position < text.count {
                let byte = text[position]
                position += 1
                guard byte == UInt8(ascii: "\\") else {
                    out.append(byte)
                    continue
                }
                // The parser checked the letters and digits; a lone surrogate is Foundation's to judge.
                guard JSONEscape.decode(text, at: &position, into: &out) else { throw Unsupported() }
            }
            return String(decoding: out, as: UTF8.self)
        }

        /// The integer at `index`, written as an integer (a fraction or an exponent goes to `JSONDecoder`).
        func integer<I: FixedWidthInteger>(at index: Int, as: I.Type) throws -> I {
            let node = nodes[index]
            guard node.kind == .number else { throw Unsupported() }
            return try bytes.withUnsafeBufferPointer { buffer in
                var position = Int(node.start)
                let end = Int(node.end)
                let negative = buffer[position] == UInt8(ascii: "-")
                if negative { position += 1 }
                var value: I = 0
                while position < end {
                    let digit = buffer[position] &- 0x30
                    guard digit < 10 else { throw Unsupported() }
                    let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                    let (next, overflow2) =
                        negative ? times.subtractingReportingOverflow(I(digit)) : times.addingReportingOverflow(I(digit))
                    guard !overflow1 && !overflow2 else { throw Unsupported() }
                    value = next
                    position += 1
                }
                // "-0" into an unsigned integer is 0 to JSONDecoder too; any other negative one overflowed above.
                return value
            }
        }

        /// The index of `key`'s value in the object at `object`, or nil; a key given twice goes to `JSONDecoder`.
        func member(_ key: String, in object: Int) throws -> Int? {
            var key = key
            return try key.withUTF8 { wanted in
                var found: Int?
                var index = object + 1
                let end = Int(nodes[object].after)
                while index < end {
                    let keyNode = nodes[index]
                    let value = index + 1
                    if keyNode.escaped {
                        if try string(at: index).utf8.elementsEqual(wanted) {
                            guard found == nil else { throw Unsupported() }
                            found = value
                        }
                    } else if Int(keyNode.end - keyNode.start) == wanted.count {
                        let same = bytes.withUnsafeBufferPointer { buffer in
                            wanted.count == 0 || memcmp(buffer.baseAddress! + Int(keyNode.start), wanted.baseAddress!, wanted.count) == 0
                        }
                        if same {
                            guard found == nil else { throw Unsupported() }
                            found = value
                        }
                    }
                    index = Int(nodes[value].after)
                }
                return found
            }
        }

        /// The keys of the object at `object`, in order; a key given twice goes to `JSONDecoder`.
        func keys(of object: Int) throws -> [String] {
            var keys: [String] = []
            var index = object + 1
            let end = Int(nodes[object].after)
            while index < end {
                keys.append(try string(at: index))
                index = Int(nodes[index + 1].after)
            }
            guard Set(keys).count == keys.count else { throw Unsupported() }
            return keys
        }
    }

    struct ValueDecoder: Decoder {
        let document: Document
        let index: Int
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            guard document.nodes[index].kind == .object else { throw Unsupported() }
            return KeyedDecodingContainer(Keyed<Key>(document: document, object: index))
        }

        func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
            guard document.nodes[index].kind == .array else { throw Unsupported() }
            return Unkeyed(document: document, array: index)
        }

        func singleValueContainer() throws -> any SingleValueDecodingContainer {
            Single(document: document, index: index)
        }
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let document: Document
        let object: Int
        var codingPath: [any CodingKey] { [] }

        var allKeys: [Key] {
            guard let keys = try? document.keys(of: object) else {
                document.unsure = true
                return []
            }
            return keys.compactMap { Key(stringValue: $0) }
        }

        func contains(_ key: Key) -> Bool {
            do {
                return try document.member(key.stringValue, in: object) != nil
            } catch {
                document.unsure = true
                return false
            }
        }

        private func value(_ key: Key) throws -> Int {
            guard let index = try document.member(key.stringValue, in: object) else { throw Unsupported() }
            return index
        }

        func decodeNil(forKey key: Key) throws -> Bool { document.nodes[try value(key)].kind == .null }

        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try Bool.read(document, try value(key)) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try document.string(at: try value(key)) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { throw Unsupported() }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw Unsupported() }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try document.integer(at: try value(key), as: Int.self) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try document.integer(at: try value(key), as: Int8.self) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try document.integer(at: try value(key), as: Int16.self) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try document.integer(at: try value(key), as: Int32.self) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try document.integer(at: try value(key), as: Int64.self) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try document.integer(at: try value(key), as: UInt.self) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try document.integer(at: try value(key), as: UInt8.self) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try document.integer(at: try value(key), as: UInt16.self) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try document.integer(at: try value(key), as: UInt32.self) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try document.integer(at: try value(key), as: UInt64.self) }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try document.decode(type, at: try value(key))
        }

        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            guard let index = try document.member(key.stringValue, in: object), document.nodes[index].kind != .null else { return nil }
            return try document.decode(type, at: index)
        }

        func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type,
            forKey key: Key
        ) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            try ValueDecoder(document: document, index: try value(key)).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try ValueDecoder(document: document, index: try value(key)).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder { throw Unsupported() }
        func superDecoder(forKey key: Key) throws -> any Decoder { throw Unsupported() }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let document: Document
        let array: Int
        var codingPath: [any CodingKey] { [] }
        private(set) var currentIndex = 0
        private var next: Int

        init(document: Document, array: Int) {
            self.document = document
            self.array = array
            next = array + 1
        }

        var count: Int? { Int(document.nodes[array].count) }
        var isAtEnd: Bool { currentIndex >= Int(document.nodes[array].count) }

        private mutating func advance() throws -> Int {
            guard !isAtEnd else { throw Unsupported() }
            let index = next
            next = Int(document.nodes[index].after)
            currentIndex += 1
            return index
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd else { throw Unsupported() }
            if document.nodes[next].kind == .null {
                _ = try advance()
                return true
            }
            return false
        }

        mutating func decode(_ type: Bool.Type) throws -> Bool { try Bool.read(document, try advance()) }
        mutating func decode(_ type: String.Type) throws -> String { try document.string(at: try advance()) }
        mutating func decode(_ type: Double.Type) throws -> Double { throw Unsupported() }
        mutating func decode(_ type: Float.Type) throws -> Float { throw Unsupported() }
        mutating func decode(_ type: Int.Type) throws -> Int { try document.integer(at: try advance(), as: Int.self) }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try document.integer(at: try advance(), as: Int8.self) }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try document.integer(at: try advance(), as: Int16.self) }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try document.integer(at: try advance(), as: Int32.self) }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try document.integer(at: try advance(), as: Int64.self) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try document.integer(at: try advance(), as: UInt.self) }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try document.integer(at: try advance(), as: UInt8.self) }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try document.integer(at: try advance(), as: UInt16.self) }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try document.integer(at: try advance(), as: UInt32.self) }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try document.integer(at: try advance(), as: UInt64.self) }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try document.decode(type, at: try advance()) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            try ValueDecoder(document: document, index: try advance())
                .container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            try ValueDecoder(document: document, index: try advance())
                .unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder { throw Unsupported() }
    }

    struct Single: SingleValueDecodingContainer {
        let document: Document
        let index: Int
        var codingPath: [any CodingKey] { [] }

        func decodeNil() -> Bool { document.nodes[index].kind == .null }

        func decode(_ type: Bool.Type) throws -> Bool { try Bool.read(document, index) }
        func decode(_ type: String.Type) throws -> String { try document.string(at: index) }
        func decode(_ type: Double.Type) throws -> Double { throw Unsupported() }
        func decode(_ type: Float.Type) throws -> Float { throw Unsupported() }
        func decode(_ type: Int.Type) throws -> Int { try document.integer(at: index, as: Int.self) }
        func decode(_ type: Int8.Type) throws -> Int8 { try document.integer(at: index, as: Int8.self) }
        func decode(_ type: Int16.Type) throws -> Int16 { try document.integer(at: index, as: Int16.self) }
        func decode(_ type: Int32.Type) throws -> Int32 { try document.integer(at: index, as: Int32.self) }
        func decode(_ type: Int64.Type) throws -> Int64 { try document.integer(at: index, as: Int64.self) }
        func decode(_ type: UInt.Type) throws -> UInt { try document.integer(at: index, as: UInt.self) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try document.integer(at: index, as: UInt8.self) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try document.integer(at: index, as: UInt16.self) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try document.integer(at: index, as: UInt32.self) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try document.integer(at: index, as: UInt64.self) }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try document.decode(type, at: index)
        }
    }
}

/// The scalars `JSONReader` reads straight from a node.
protocol JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> Self
}

extension String: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> String { try document.string(at: index) }
}

extension Bool: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> Bool {
        switch document.nodes[index].kind {
        case .true: return true
        case .false: return false
        default: throw JSONReader.Unsupported()
        }
    }
}

extension Int: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> Int { try document.integer(at: index, as: Int.self) }
}

extension Int64: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> Int64 { try document.integer(at: index, as: Int64.self) }
}

extension Int32: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> Int32 { try document.integer(at: index, as: Int32.self) }
}

extension UInt64: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> UInt64 {
        try document.integer(at: index, as: UInt64.self)
    }
}

extension UInt8: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> UInt8 { try document.integer(at: index, as: UInt8.self) }
}

extension Int8: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> Int8 { try document.integer(at: index, as: Int8.self) }
}

extension Int16: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> Int16 { try document.integer(at: index, as: Int16.self) }
}

extension UInt: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> UInt { try document.integer(at: index, as: UInt.self) }
}

extension UInt16: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> UInt16 { try document.integer(at: index, as: UInt16.self) }
}

extension UInt32: JSONReaderScalar {
    static func read(_ document: JSONReader.Document, _ index: Int) throws -> UInt32 { try document.integer(at: index, as: UInt32.self) }
}
