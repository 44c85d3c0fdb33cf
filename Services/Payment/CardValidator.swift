import Contracts
import FoundationEssentials
import Glibc

/// Card checks done before anything is stored: digits, Luhn checksum, expiry, CVC. Messages name the
/// field, never its value.
enum CardValidator {
    /// The simulated issuer's answer for a card (DESIGN's test cards).
    enum IssuerProfile: String {
        case approve
        case decline
        case insufficientFunds = "insufficient_funds"
        case unavailable
    }

    struct Checked {
        let brand: String
        let last4: String
        let profile: IssuerProfile
    }

    /// Returns the problems found (empty when the card is acceptable).
    static func problems(_ card: PaymentAPI.Card, now: Date = Date()) -> [String] {
        var problems: [String] = []
        let digits = card.cardNumber.filter { $0 != " " }
        if !(12...19).contains(digits.count) || !digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
            problems.append("payment.cardNumber must be 12 to 19 digits")
        } else if !luhn(digits) {
            problems.append("payment.cardNumber fails the Luhn check")
        }
        // The year and month in UTC, from gmtime_r: FoundationEssentials has no time zone by name (those come
        // with the ICU data of FoundationInternationalization, which the services do not link).
        var seconds = time_t(now.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let year = Int(parts.tm_year) + 1900
        let month = Int(parts.tm_mon) + 1
        if !(1...12).contains(card.expMonth) {
            problems.append("payment.expMonth must be 1 to 12")
        } else if card.expYear < year || (card.expYear == year && card.expMonth < month) || card.expYear > year + 20 {
            problems.append("payment card is expired or its expiry is implausible")
        }
        if !(3...4).contains(card.cvc.count) || !card.cvc.allSatisfy({ $0.isASCII && $0.isNumber }) {
            problems.append("payment.cvc must be 3 or 4 digits")
        }
        return problems
    }

    static func check(_ card: PaymentAPI.Card) -> Checked {
        let digits = card.cardNumber.filter { $0 != " " }
        let profile: IssuerProfile
        switch digits {
        case "4000000000000002": profile = .decline
        case "4000000000009995": profile = .insufficientFunds
        case "4000000000000119": profile = .unavailable
        default: profile = .approve
        }
        return Checked(brand: brand(digits), last4: String(digits.suffix(4)), profile: profile)
    }

    static func luhn(_ digits: String) -> Bool {
        var sum = 0
        for (index, character) in digits.reversed().enumerated() {
            var value = Int(String(character)) ?? 0
            if index % 2 == 1 {
                value *= 2
                if value > 9 { value -= 9 }
            }
            sum += value
        }
        return sum % 10 == 0
    }

    static func brand(_ digits: String) -> String {
        if digits.hasPrefix("4") { return "visa" }
        if digits.hasPrefix("34") || digits.hasPrefix("37") { return "amex" }
        if let two = Int(digits.prefix(2)), (51...55).contains(two) { return "mastercard" }
        if let four = Int(digits.prefix(4)), (2221...2720).contains(four) { return "mastercard" }
        return "unknown"
    }
}
