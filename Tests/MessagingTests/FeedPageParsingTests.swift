import Contracts
import Foundation
import Messaging
import Storage
import Testing

/// The feed page reader (`JSONScanner` under `EventFeed.parsePage`): it accepts what a JSON parser accepts
/// and refuses what it refuses, keeps an event's data as the producer's raw text, and refuses a page that is
/// not a feed page.
@Suite("Feed pages and the JSON scanner")
struct FeedPageParsingTests {
    static let valid = [
        #"{}"#, #"[]"#, #" [1, -2, 3.5e-2, 0, 1E+9, true, false, null] "#, #"{"a":{"b":[{"c":"d"}]},"e":""}"#,
        #""esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00""#, #""Zoë 東京 👩‍💻""#, "-0", "1.0e10",
    ]
    static let invalid = [
        "", " ", "{", "}", "[1,]", "[,1]", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, #"{a:1}"#, "01", "1.", ".5", "-", "1e", "+1",
        "tru", "nul", #""unterminated"#, "\"tab\there\"", #""\x""#, #""\u12""#, #""\ud83d""#, #""\ude00""#, "[1] [2]",
        "{\"a\":1}x", String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ]

    @Test(arguments: valid)
    func acceptsWhatAJSONParserAccepts(text: String) throws {
        var scanner = JSONScanner(Array(text.utf8))
        let range = try scanner.skipValue()
        let atEnd = scanner.atEnd()
        #expect(atEnd)
        #expect(scanner.text(range) == text.trimmingCharacters(in: .whitespaces))
        #expect(throws: Never.self) { try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed) }
    }

    @Test(arguments: invalid)
    func refusesWhatItMustRefuse(text: String) {
        #expect(throws: JSONScanner.ScanError.self) {
            var scanner = JSONScanner(Array(text.utf8))
            try scanner.skipValue()
            guard scanner.atEnd() else { throw JSONScanner.ScanError.malformed(at: scanner.position) }
        }
    }

    @Test func stringsAreUnescaped() throws {
        var scanner = JSONScanner(Array(#"["a\"b\\c\nd\u00e9\ud83d\ude00", "plain"]"#.utf8))
        var strings: [String] = []
        try scanner.array { strings.append(try $0.string()) }
        #expect(strings == ["a\"b\\c\nd\u{e9}😀", "plain"])
    }

    @Test func aPageKeepsEachEventsDataAsWrittenAndStepsOverUnknownMembers() throws {
        let data = #"{"z": 1, "a": [ "x" , {"k":null} ], "s":"quote \" here"}"#
        let page = #"""
            {"items":[{"seq":7,"id":"e7","type":"order.approved","version":2,"aggregateId":"o1",
            "occurredAt":"2026-11-30T21:00:00.123Z","traceparent":null,"data":\#(data),"extra":{"n":[1,2]}}],
            "next":"7","head":9,"afterId":"e6","future":true}
            """#
        let parsed = try EventFeed.parsePage(Array(page.utf8))
        #expect(parsed.head == 9 && parsed.afterId == "e6")
        let event = try #require(parsed.events.first)
        #expect(event.seq == 7 && event.id == "e7" && event.type == "order.approved" && event.version == 2)
        #expect(event.aggregateId == "o1" && event.traceparent == nil)
        #expect(event.data == data, "the producer's text, not rewritten")
        #expect(event.occurredAt == Timestamp.parse("2026-11-30T21:00:00.123Z"))
    }

    @Test(arguments: [
        #"{"next":null}"#, #"{"items":{}}"#, #"{"items":[{"seq":1}]}"#, #"{"items":[]} trailing"#, #"[]"#,
        #"{"items":[{"seq":"1","id":"e","type":"t","version":1,"aggregateId":"a","occurredAt":"2026-11-30T21:00:00Z","data":{}}]}"#,
        #"{"items":[{"seq":1,"id":"e","type":"t","version":1,"aggregateId":"a","occurredAt":"yesterday","data":{}}]}"#,
    ])
    func aPageThatIsNotAFeedPageIsRefused(text: String) {
        #expect(throws: FeedError.malformedPage) { try EventFeed.parsePage(Array(text.utf8)) }
    }
}
