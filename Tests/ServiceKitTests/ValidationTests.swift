import Foundation
import Testing

@testable import ServiceKit

@Suite("Validation of text fields")
struct ValidationTests {
    func problems(_ value: String, max: Int = 200) -> String? {
        var check = Validation()
        check.text(value, "name", max: max)
        do {
            try check.validate()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func blankIsWhatCharacterSetWhitespacesHolds() {
        for blank in ["", " ", "\t", "  \t ", "\u{00A0}", "\u{2003}\u{3000}"] {
            #expect(problems(blank)?.contains("must not be empty") == true, "\(blank.unicodeScalars.map(\.value))")
            #expect(blank.trimmingCharacters(in: .whitespaces).isEmpty, "the same as Foundation's")
        }
        #expect(problems("\n")?.contains("control characters") == true)
        #expect(problems(" a ") == nil)
        #expect(problems("Zoë") == nil)
        #expect(problems("abcd", max: 3)?.contains("at most 3") == true)
        #expect(problems("a\u{7F}")?.contains("control characters") == true)
    }
}
