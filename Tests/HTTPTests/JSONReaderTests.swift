import Foundation
import Platform
import Testing

@testable import HTTP

/// `JSONReader` reads what `JSONDecoder` (as `JSON.decoder()` sets it up) reads, and leaves to it whatever it
/// does not reproduce exactly and every error: `JSON.decode` then answers as Foundation does.
@Suite("JSONReader")
struct JSONReaderTests {
    enum Status: String, Codable, Equatable {
        case running = "RUNNING"
        case done = "DONE"
    }

    struct Line: Codable, Equatable {
        let sku: String
        let quantity: Int
    }

    /// Every shape the services' messages have, without the types the reader leaves to Foundation.
    struct Message: Codable, Equatable {
        let id: String
        let status: Status
        let total: Int64
        let small: Int8
        let big: UInt64
        let negative: Int
        let flag: Bool
        let note: String?
        let missing: String?
        let lines: [Line]
        let tags: [String: Int]
        let numbered: [Int: String]
        let nested: [[String?]]
        let empty: [Line]
        let emptyObject: [String: Line]
    }

    static let message = Message(
        id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        status: .running,
        total: 9_223_372_036_854_775_807,
        small: -128,
        big: 18_446_744_073_709_551_615,
        negative: -42,
        flag: true,
        note: "caf\u{e9} \u{1F600} \"quoted\" back\\slash / tab\t new\nline \u{1}",
        missing: nil,
        lines: [Line(sku: "MUG-001", quantity: 2), Line(sku: "TEE-001", quantity: 1)],
        tags: ["a": 1, "b": -2],
        numbered: [1: "one", 20: "twenty"],
        nested: [["x", nil], [], [nil]],
        empty: [],
        emptyObject: [:]
    )

    static func foundation<T: Decodable>(_ type: T.Type, _ text: [UInt8]) -> T? {
        try? JSON.decoder().decode(type, from: Data(text))
    }

    @Test func readsEveryShapeAsJSONDecoderDoes() throws {
        let text = try JSON.encode(Self.message)
        // Read by the reader itself, not handed on.
        #expect(try JSONReader.decode(Message.self, from: text) == Self.message)
        #expect(Self.foundation(Message.self, text) == Self.message)
        #expect(try JSON.decode(Message.self, from: text) == Self.message)
        // Whitespace, members in another order, escapes Foundation's encoder never writes.
        let spaced = Array(
            #"""
             { "lines" : [ {"quantity":2 ,"sku":"MUG-001"} ] , "id":"\u0041\/\ud83d\ude00", "status":"DONE",
               "total":-0,"small":127,"big":0,"negative":-9223372036854775808,"flag":false,"note":null,
               "tags":{},"numbered":{"-3":"minus three"},"nested":[[null]],"empty":[],"emptyObject":{"k":{"sku":"","quantity":0}} }
            """#.utf8
        )
        let read = try JSONReader.decode(Message.self, from: spaced)
        #expect(read == Self.foundation(Message.self, spaced))
        #expect(read.id == "A/\u{1F600}")
        #expect(read.negative == Int.min)
        // Top-level values that are not objects.
        #expect(try JSONReader.decode([Line].self, from: Array(#"[{"sku":"a","quantity":1}]"#.utf8)) == [Line(sku: "a", quantity: 1)])
        #expect(try JSONReader.decode(String.self, from: Array(#""x""#.utf8)) == "x")
        #expect(try JSONReader.decode(Int?.self, from: Array("null".utf8)) == nil)
        #expect(try JSONReader.decode(Status.self, from: Array(#" "DONE" "#.utf8)) == .done)
    }

    /// What the reader does not reproduce exactly goes to `JSONDecoder`, whose answer `JSON.decode` gives:
    /// a value where Foundation reads one, Foundation's error where it refuses.
    @Test(arguments: [
        #"{"sku":"a","quantity":1.0}"#,  // a fraction read as an integer
        #"{"sku":"a","quantity":1e2}"#,  // an exponent
        #"{"sku":"a","quantity":1,"quantity":2}"#,  // a key twice
        #"{"sku":"\ud800","quantity":1}"#,  // a lone surrogate
        #"{"sku":"a","quantity":9223372036854775808}"#,  // past Int.max
        #"{"sku":"a","quantity":"1"}"#,  // a string for an integer
        #"{"sku":"a"}"#,  // a member missing
        #"{"sku":null,"quantity":1}"#,  // null for a value
        #"{"sku":"a","quantity":01}"#,  // a leading zero
        #"{"sku":"a","quantity":1,}"#,  // a trailing comma
        #"{"sku":"a","quantity":1} x"#,  // text after the value
        #"{'sku':"a","quantity":1}"#,  // not JSON
        "",
    ])
    func leavesTheRestToJSONDecoder(_ text: String) throws {
        let bytes = Array(text.utf8)
        #expect(throws: (any Error).self) { try JSONReader.decode(Line.self, from: bytes) }
        let mine = Result { try JSON.decode(Line.self, from: bytes) }
        let theirs = Result { try JSON.decoder().decode(Line.self, from: Data(bytes)) }
        switch (mine, theirs) {
        case (.success(let a), .success(let b)): #expect(a == b)
        case (.failure(let a), .failure(let b)): #expect(String(describing: a) == String(describing: b))
        default: Issue.record("JSON.decode and JSONDecoder disagree on \(text): \(mine) against \(theirs)")
        }
    }

    @Test func typesOnlyFoundationReadsGoThere() throws {
        struct Stamped: Codable, Equatable {
            let at: Date
            let ratio: Double
            let blob: Data
        }
        let value = Stamped(at: Date(timeIntervalSince1970: 1_800_000_000), ratio: 0.25, blob: Data([1, 2, 3]))
        let text = Array(try JSON.encoder().encode(value))
        #expect(throws: (any Error).self) { try JSONReader.decode(Stamped.self, from: text) }
        #expect(try JSON.decode(Stamped.self, from: text) == value)
        // Bytes that are not UTF-8 inside a string: refused by both.
        let broken: [UInt8] = Array(#"{"sku":""#.utf8) + [0xC3, 0x28] + Array(#"","quantity":1}"#.utf8)
        #expect(throws: (any Error).self) { try JSONReader.decode(Line.self, from: broken) }
        #expect(throws: (any Error).self) { try JSON.decode(Line.self, from: broken) }
    }

    /// Texts mutated at random (a fixed seed, so a failure repeats): whenever the reader reads one, Foundation
    /// reads the same value from it.
    @Test func mutatedTextsAreNeverReadDifferently() throws {
        let seeds = [try JSON.encode(Self.message), try JSON.encode([Self.message, Self.message])]
        var generator = SplitMix64(seed: 0x5A6A_4D41_5254)
        let alphabet = Array(#"{}[]":,.-+0123456789eEtrufalsn \"#.utf8) + [0x5C, 0x75, 0x00, 0x1F, 0x7F, 0xC3, 0xA9, 0xFF]
        var read = 0
        var total = 0
        for seed in seeds {
            for _ in 0..<1500 {
                var text = seed
                for _ in 0..<Int.random(in: 1...3, using: &generator) {
                    let at = Int.random(in: 0..<text.count, using: &generator)
                    switch Int.random(in: 0..<4, using: &generator) {
                    case 0: text[at] = alphabet.randomElement(using: &generator)!
                    case 1: text.remove(at: at)
                    case 2: text.insert(alphabet.randomElement(using: &generator)!, at: at)
                    default:
                        // A stretch of the text again: duplicate members, repeated elements.
                        let end = min(text.count, at + Int.random(in: 1...40, using: &generator))
                        text.insert(contentsOf: text[at..<end], at: end)
                    }
                }
                total += 1
                if seed.count == seeds[0].count {
                    guard let mine = try? JSONReader.decode(Message.self, from: text) else { continue }
                    read += 1
                    #expect(mine == Self.foundation(Message.self, text), "\(String(decoding: text, as: UTF8.self))")
                } else {
                    guard let mine = try? JSONReader.decode([Message].self, from: text) else { continue }
                    read += 1
                    #expect(mine == Self.foundation([Message].self, text), "\(String(decoding: text, as: UTF8.self))")
                }
            }
        }
        // Some mutations leave a readable text (a changed digit or letter): the comparison did happen.
        #expect(read > total / 50, "\(read) of \(total) read")
    }

    /// A request body's problems are still named as before: Foundation's errors, mapped by `Request.decode`.
    @Test func requestBodyProblemsKeepTheirMessages() throws {
        func problem(_ body: String) -> HTTPError? {
            do {
                _ = try Request(method: "POST", target: "/", body: Array(body.utf8)).decode([Line].self)
                return nil
            } catch {
                return error as? HTTPError
            }
        }
        #expect(problem(#"[{"sku":"a","quantity":1}]"#) == nil)
        #expect(problem(#"[{"sku":"a"}]"#)?.detail == "Missing field '[0].quantity'.")
        #expect(problem(#"[{"sku":"a","quantity":"x"}]"#)?.detail == "Invalid value for field '[0].quantity'.")
        #expect(problem(#"[{"sku":"a","quantity":1}"#)?.code == "malformed_json")
    }
}
