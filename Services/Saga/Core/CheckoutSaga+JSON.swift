import Foundation

extension CheckoutSaga {
    /// The saga as the same JSON its synthesized `Codable` conformance writes (dates as seconds since the
    /// reference date), built by hand: the saga is saved at every step boundary, and Foundation's
    /// `JSONEncoder` was a fifth of the saga service's CPU in profiles. `JSONDecoder` reads it back.
    public func encodedJSON() -> String {
        var out = "{"
        func key(_ name: String) { out += (out.count > 1 ? "," : "") + "\"\(name)\":" }
        func string(_ name: String, _ value: String?) {
            guard let value else { return }
            key(name)
            out += jsonQuote(value)
        }
        string("id", id)
        string("customerId", customerId)
        string("orderId", orderId)
        string("paymentId", paymentId)
        string("shipmentId", shipmentId)
        key("items")
        out += "[" + items.map { "{\"sku\":\(jsonQuote($0.sku)),\"quantity\":\($0.quantity)}" }.joined(separator: ",") + "]"
        string("paymentToken", paymentToken)
        key("shipping")
        out += "{\"name\":\(jsonQuote(shipping.name)),\"line1\":\(jsonQuote(shipping.line1)),\"city\":\(jsonQuote(shipping.city)),"
        out += "\"postalCode\":\(jsonQuote(shipping.postalCode)),\"country\":\(jsonQuote(shipping.country))}"
        string("status", status.rawValue)
        key("current")
        out += "\(current.rawValue)"
        key("applied")
        out += "[" + applied.map { "\($0.rawValue)" }.joined(separator: ",") + "]"
        key("stepStartedAt")
        out += "\(stepStartedAt.timeIntervalSinceReferenceDate)"
        key("attempts")
        out += "\(attempts)"
        string("failureCode", failureCode)
        string("failureDetail", failureDetail)
        if let totalCents {
            key("totalCents")
            out += "\(totalCents)"
        }
        string("currency", currency)
        key("timeline")
        out += "["
        for (index, record) in timeline.enumerated() {
            if index > 0 { out += "," }
            out += "{\"step\":\(record.step.rawValue),\"compensation\":\(record.compensation),\"status\":\(jsonQuote(record.status)),"
            out += "\"attempts\":\(record.attempts),\"startedAt\":\(record.startedAt.timeIntervalSinceReferenceDate)"
            if let finishedAt = record.finishedAt { out += ",\"finishedAt\":\(finishedAt.timeIntervalSinceReferenceDate)" }
            if let error = record.error { out += ",\"error\":\(jsonQuote(error))" }
            out += "}"
        }
        out += "]}"
        return out
    }
}

/// A JSON string literal (RFC 8259 section 7).
func jsonQuote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
