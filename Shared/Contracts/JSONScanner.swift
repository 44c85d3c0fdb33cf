import Platform

/// A strict JSON reader (RFC 8259) over UTF-8 bytes for hot paths where `JSONSerialization` costs too much:
/// it reads what the caller asks for, member by member, and can hand back a value's raw text without
/// building it (an event's `data`, kept as the producer wrote it). Every value it steps over is checked.
/// Nesting is limited to `maxDepth`.
public struct JSONScanner {
    public enum ScanError: Error, Equatable {
        case malformed(at: Int)
    }

    private let bytes: [UInt8]
    public private(set) var position = 0
    public var maxDepth = 64

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Whether only whitespace is left.
    public mutating func atEnd() -> Bool {
        skipWhitespace()
        return position == bytes.count
    }

    /// Reads `{`, then calls `member` with each key, positioned at its value, which `member` must read or
    /// skip; reads the closing `}`.
    public mutating func object(_ member: (inout JSONScanner, String) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        if try peek() == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            let key = try string()
            try expect(UInt8(ascii: ":"))
            try member(&self, key)
            if try consumeComma(closing: UInt8(ascii: "}")) { return }
        }
    }

    /// Reads `[`, then calls `element` positioned at each element; reads the closing `]`.
    public mutating func array(_ element: (inout JSONScanner) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        if try peek() == UInt8(ascii: "]") {
            position += 1
            return
        }
        while true {
            try element(&self)
            if try consumeComma(closing: UInt8(ascii: "]")) { return }
        }
    }

    /// Whether the next value is `null` (and reads it).
    public mutating func null() throws -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    /// A string value.
    public mutating func string() throws -> String {
        try expect(UInt8(ascii: "\""))
        let start = position
        // No escape: the bytes between the quotes are the string (checked as UTF-8 by the decoding below).
        while position < bytes.count, bytes[position] != UInt8(ascii: "\""), bytes[position] != UInt8(ascii: "\\") {
            guard bytes[position] >= 0x20 else { throw ScanError.malformed(at: position) }
            position += 1
        }
        guard position < bytes.count else { throw ScanError.malformed(at: position) }
        var text = bytes[start..<position]
        if bytes[position] == UInt8(ascii: "\"") {
            position += 1
            return try Self.utf8(text, at: start)
        }
        var out = Array(text)
        while true {
            guard position < bytes.count else { throw ScanError.malformed(at: position) }
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                text = out[...]
                return try Self.utf8(text, at: start)
            case UInt8(ascii: "\\"):
                guard JSONEscape.decode(bytes, at: &position, into: &out) else { throw ScanError.malformed(at: position) }
            case ..<0x20:
                throw ScanError.malformed(at: position - 1)
            default:
                out.append(byte)
            }
        }
    }

    /// An integer value (no fraction or exponent).
    public mutating func integer() throws -> Int64 {
        let range = try number()
        guard let value = Int64(String(decoding: bytes[range], as: UTF8.self)) else { throw ScanError.malformed(at: range.lowerBound) }
        return value
    }

    /// Steps over any value, checking it, and returns its raw text's byte range.
    @discardableResult
    public mutating func skipValue() throws -> Range<Int> {
        try skipValue(depth: 0)
    }

    /// The raw text of `range` (from `skipValue`).
    public func text(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    // MARK: - Internals

    private mutating func skipValue(depth: Int) throws -> Range<Int> {
        guard depth < maxDepth else { throw ScanError.malformed(at: position) }
        let byte = try peek()
        let start = position
        switch byte {
        case UInt8(ascii: "{"):
            try object { scanner, _ in _ = try scanner.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            try array { scanner in _ = try scanner.skipValue(depth: depth + 1) }
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "t"):
            try literal("true")
        case UInt8(ascii: "f"):
            try literal("false")
        case UInt8(ascii: "n"):
            try literal("null")
        default:
            return try number()
        }
        return start..<position
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func peek() throws -> UInt8 {
        skipWhitespace()
        guard position < bytes.count else { throw ScanError.malformed(at: position) }
        return bytes[position]
    }

    private mutating func expect(_ byte: UInt8) throws {
        guard try peek() == byte else { throw ScanError.malformed(at: position) }
        position += 1
    }

    /// After a member or element: true at the closing bracket (read), false after a comma (read).
    private mutating func consumeComma(closing: UInt8) throws -> Bool {
        let byte = try peek()
        position += 1
        if byte == closing { return true }
        guard byte == UInt8(ascii: ",") else { throw ScanError.malformed(at: position - 1) }
        return false
    }

    private mutating func literal(_ word: StaticString) throws {
        skipWhitespace()
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw ScanError.malformed(at: position) }
        for offset in 0..<count where bytes[position + offset] != word.utf8Start[offset] {
            throw ScanError.malformed(at: position + offset)
        }
        position += count
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func number() throws -> Range<Int> {
        skipWhitespace()
        let start = position
        func digits() throws {
            let first = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
            guard position > first else { throw ScanError.malformed(at: position) }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        let integerStart = position
        try digits()
        if bytes[integerStart] == UInt8(ascii: "0"), position - integerStart > 1 { throw ScanError.malformed(at: integerStart) }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            try digits()
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            try digits()
        }
        return start..<position
    }

    private static func utf8(_ bytes: ArraySlice<UInt8>, at start: Int) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ScanError.malformed(at: start) }
        return text
    }
}
