import Foundation
import Testing

@testable import HTTP

/// `JSONWriter` writes what `JSONEncoder` (as `JSON.encoder()` sets it up) writes, byte for byte, and
/// leaves to it the values it cannot reproduce. (Debug builds also compare the two on every message the
/// services send, so every end-to-end test checks it on the real contracts.)
@Suite("JSONWriter")
struct JSONWriterTests {
    enum Status: String, Codable {
        case running = "RUNNING"
        case done = "DONE"
    }

    struct Line: Codable, Equatable {
        let sku: String
        let quantity: Int
    }

    struct Message: Codable {
        let id: String
        let status: Status
        let total: Int64
        let small: Int8
        let big: UInt64
        let negative: Int
        let flag: Bool
        let note: String?
        let missing: String?
        let at: Date
        let lines: [Line]
        let tags: [String: Int]
        let numbered: [Int: String]
        let nested: [[String?]]
        let empty: [Line]
        let emptyObject: [String: Line]
    }

    struct ExplicitNull: Encodable {
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: AnyKey.self)
            try container.encodeNil(forKey: AnyKey("b"))
            try container.encode("x", forKey: AnyKey("a"))
            // Keyed twice, as a subclass does: one object.
            var again = encoder.container(keyedBy: AnyKey.self)
            try again.encode(1, forKey: AnyKey("Z"))
            // A key given again: its last value.
            try again.encode(2, forKey: AnyKey("a"))
            var nested = container.nestedContainer(keyedBy: AnyKey.self, forKey: AnyKey("n"))
            try nested.encode(true, forKey: AnyKey("t"))
            var list = container.nestedUnkeyedContainer(forKey: AnyKey("l"))
            try list.encodeNil()
            try list.encode(-7)
            var inner = list.nestedContainer(keyedBy: AnyKey.self)
            try inner.encode("i", forKey: AnyKey("k"))
            let parent = container.superEncoder()
            var single = parent.singleValueContainer()
            try single.encode("from super")
        }
    }

    struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    struct Nothing: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }

    func same(_ value: some Encodable, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = String(decoding: try JSON.encoder().encode(value), as: UTF8.self)
        let written = try #require(try JSONWriter.encode(value), sourceLocation: sourceLocation)
        #expect(String(decoding: written, as: UTF8.self) == expected, sourceLocation: sourceLocation)
    }

    @Test func writesWhatJSONEncoderWrites() throws {
        var everyASCII = ""
        for code in 0..<0x80 { everyASCII.unicodeScalars.append(Unicode.Scalar(code)!) }
        let message = Message(
            id: "0192f0a4-7c1e-7d2a-9b3c-0123456789ab",
            status: .running,
            total: Int64.max,
            small: Int8.min,
            big: UInt64.max,
            negative: Int.min,
            flag: false,
            note: everyASCII + "\u{2028}\u{2029}é😀/\\\"",
            missing: nil,
            at: Date(timeIntervalSince1970: 1_764_559_639.9999),
            lines: [Line(sku: "A-1", quantity: 2), Line(sku: "", quantity: 0)],
            tags: ["b": 1, "B": 2, "a": 3, "a10": 4, "a9": 5, "_": 6, "ä": 7],
            numbered: [10: "ten", 9: "nine", -1: "minus one"],
            nested: [[nil, "x"], [], [nil]],
            empty: [],
            emptyObject: [:]
        )
        try same(message)
        try same([message, message])
        try same(ExplicitNull())
        try same([Nothing()])
        try same(["n": Nothing()])
        try same("top-level string")
        try same(Optional<Int>.none)
        try same(Status.done)
        try same([String: [Int]]())
        for seconds in [0, 0.5, -0.5, -1.5, 59.999, 951_782_400, 4_102_444_800, -2_208_988_800, 253_402_300_799] {
            try same(["at": Date(timeIntervalSince1970: seconds)])
        }
    }

    @Test func escapesSlashesWhenAskedAsJSONEncoderDoesByDefault() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for value in [["path": "a/b//c", "k/ey": "/"], ["none": "x"], ["quote": "\"/\\"]] {
            let written = try #require(try JSONWriter.encode(value, escapingSlashes: true))
            #expect(String(decoding: written, as: UTF8.self) == String(decoding: try encoder.encode(value), as: UTF8.self))
        }
    }

    @Test func leavesTheRestToJSONEncoder() throws {
        #expect(try JSONWriter.encode(["x": 1.5]) == nil)
        #expect(try JSONWriter.encode([Float(1)]) == nil)
        #expect(try JSONWriter.encode(["d": Data([1, 2])]) == nil)
        #expect(try JSONWriter.encode(["u": URL(string: "https://example.com/a")!]) == nil)
        #expect(try JSONWriter.encode(["at": Date(timeIntervalSince1970: 253_402_300_800)]) == nil)
        #expect(try JSONWriter.encode(["at": Date(timeIntervalSince1970: -2_208_988_801)]) == nil)
        // Nothing at all at the top is JSONEncoder's error, so it is left to it to throw.
        #expect(try JSONWriter.encode(Nothing()) == nil)
        #expect(throws: EncodingError.self) { try JSON.encode(Nothing()) }
        // JSON.encode falls back, so the answer is the same either way.
        #expect(try JSON.encode(["x": 1.5]) == Array(try JSON.encoder().encode(["x": 1.5])))
    }

    @Test func anErrorOfTheValueItselfIsThrown() {
        struct Refuses: Encodable {
            struct Refused: Error {}
            func encode(to encoder: any Encoder) throws { throw Refused() }
        }
        #expect(throws: Refuses.Refused.self) { try JSON.encode(Refuses()) }
    }
}
