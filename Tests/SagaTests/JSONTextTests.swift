import Contracts
import Foundation
import Testing

@Suite struct JSONTextTests {
    /// Every string, plain or needing escapes, comes back unchanged through a JSON parser.
    @Test(arguments: [
        "", "ord_0193", "2026-11-30T21:00:00.000Z", "Zoë Müller — 東京", "say \"hi\"", "back\\slash",
        "line\nbreak\r\ttab", "\u{01}\u{1f}\u{7f}", "emoji 👩‍💻 and \u{0}", "<img src=x onerror=alert(1)>",
    ])
    func roundTrips(text: String) throws {
        let quoted = JSONText.quote(text)
        #expect(quoted.first == "\"" && quoted.last == "\"")
        let decoded = try JSONDecoder().decode([String].self, from: Data("[\(quoted)]".utf8))
        #expect(decoded == [text])
    }

    @Test func controlCharactersAreEscapedByCode() {
        #expect(JSONText.quote("a\u{01}b\u{1f}") == #""a\u0001b\u001f""#)
        #expect(JSONText.quote("plain") == #""plain""#)
    }
}
