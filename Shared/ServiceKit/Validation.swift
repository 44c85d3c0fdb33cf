import FoundationEssentials
import HTTP

/// Checks of request fields that answer 422 `validation_failed` naming the field, never echoing the value.
public struct Validation {
    private var problems: [String] = []

    public init() {}

    public mutating func text(_ value: String, _ field: String, max: Int = 200, pattern: ((Character) -> Bool)? = nil) {
        // Blank: only what CharacterSet.whitespaces holds (tab and the space separators, Zs), checked on
        // scalars; trimmingCharacters(in:) went through NSString (3 % of the shipping service's CPU).
        if value.unicodeScalars.allSatisfy({ $0 == "\t" || $0.properties.generalCategory == .spaceSeparator }) {
            problems.append("\(field) must not be empty")
        } else if value.count > max {
            problems.append("\(field) must be at most \(max) characters")
        } else if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            problems.append("\(field) must not contain control characters")
        } else if let pattern, !value.allSatisfy(pattern) {
            problems.append("\(field) has characters that are not allowed")
        }
    }

    public mutating func range<T: Comparable>(_ value: T, _ field: String, _ range: ClosedRange<T>) {
        if !range.contains(value) { problems.append("\(field) must be between \(range.lowerBound) and \(range.upperBound)") }
    }

    public mutating func check(_ condition: Bool, _ problem: String) {
        if !condition { problems.append(problem) }
    }

    /// An ISO 4217 code: three capital letters.
    public mutating func currency(_ value: String, _ field: String) {
        if value.count != 3 || !value.allSatisfy({ $0.isASCII && $0.isUppercase }) {
            problems.append("\(field) must be a three-letter ISO 4217 code")
        }
    }

    /// Throws 422 `validation_failed` listing every problem found.
    public func validate() throws {
        guard problems.isEmpty else { throw HTTPError.validation(problems.joined(separator: "; ") + ".") }
    }
}

extension Character {
    /// Letters, digits, `-`, `_` and `.`: what identifiers such as SKUs may contain.
    public var isIdentifierCharacter: Bool {
        isASCII && (isLetter || isNumber || self == "-" || self == "_" || self == ".")
    }
}
