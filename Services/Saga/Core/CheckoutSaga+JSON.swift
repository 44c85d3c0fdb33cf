import Contracts
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
            out += JSONText.quote(value)
        }
        string("id", id)
        string("customerId", customerId)
        string("orderId", orderId)
        string("paymentId", paymentId)
        string("shipmentId", shipmentId)
        key("items")
        out += "[" + items.map { "{\"sku\":\(JSONText.quote($0.sku)),\"quantity\":\($0.quantity)}" }.joined(separator: ",") + "]"
        string("paymentToken", paymentToken)
        key("shipping")
        out +=
            "{\"name\":\(JSONText.quote(shipping.name)),\"line1\":\(JSONText.quote(shipping.line1)),\"city\":\(JSONText.quote(shipping.city)),"
        out += "\"postalCode\":\(JSONText.quote(shipping.postalCode)),\"country\":\(JSONText.quote(shipping.country))}"
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
            out += "{\"step\":\(record.step.rawValue),\"compensation\":\(record.compensation),\"status\":\(JSONText.quote(record.status)),"
            out += "\"attempts\":\(record.attempts),\"startedAt\":\(record.startedAt.timeIntervalSinceReferenceDate)"
            if let finishedAt = record.finishedAt { out += ",\"finishedAt\":\(finishedAt.timeIntervalSinceReferenceDate)" }
            if let error = record.error { out += ",\"error\":\(JSONText.quote(error))" }
            out += "}"
        }
        out += "]}"
        return out
    }
}
