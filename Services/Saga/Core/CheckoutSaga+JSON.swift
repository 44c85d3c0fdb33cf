import Contracts
import FoundationEssentials

extension CheckoutSaga {
    /// The saga as the same JSON its synthesized `Codable` conformance writes (dates as seconds since the
    /// reference date), built by hand: the saga is saved at every step boundary, and Foundation's
    /// `JSONEncoder` was a fifth of the saga service's CPU in profiles. `JSONDecoder` reads it back.
    ///
    /// With `seal`, the payment token and the address are written as one sealed member instead,
    /// `"sealed": seal({"paymentToken":…,"shipping":{…}})`, so they are never stored in clear text;
    /// `CheckoutSaga.unsealing` puts them back.
    public func encodedJSON(sealing seal: ((String) -> String)? = nil) -> String {
        var out = "{"
        // A flag, not `out.count > 1`: String.count walks every character, at every key.
        var first = true
        func key(_ name: String) {
            out += (first ? "" : ",") + "\"\(name)\":"
            first = false
        }
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
        if let seal {
            string("sealed", seal("{" + secretMembers + "}"))
        } else {
            out += "," + secretMembers
        }
        if let totalCents {
            key("totalCents")
            out += "\(totalCents)"
        }
        string("currency", currency)
        return out + progress.jsonMembers + "}"
    }

    /// The members that are sealed at rest: `"paymentToken":…,"shipping":{…}`.
    private var secretMembers: String {
        "\"paymentToken\":\(JSONText.quote(paymentToken)),\"shipping\":{\"name\":\(JSONText.quote(shipping.name)),"
            + "\"line1\":\(JSONText.quote(shipping.line1)),\"city\":\(JSONText.quote(shipping.city)),"
            + "\"postalCode\":\(JSONText.quote(shipping.postalCode)),\"country\":\(JSONText.quote(shipping.country))}"
    }

    /// The sealed member of a stored state, if it has one (a sealed value holds no quote or escape).
    public static func sealedMember(of state: String) -> Substring? {
        guard let start = state.firstRange(of: "\"sealed\":\"") else { return nil }
        let rest = state[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return rest[..<end]
    }

    /// A stored state with its sealed member opened by `open` and put back as the clear members, ready
    /// for `JSONDecoder` (which ignores the `sealed` member left in). A state without one is returned as is.
    public static func unsealing(_ state: String, open: (String) throws -> String) throws -> String {
        guard let sealed = sealedMember(of: state) else { return state }
        let secrets = try open(String(sealed))
        guard state.hasSuffix("}"), secrets.hasPrefix("{"), secrets.hasSuffix("}") else { return state }
        return String(state.dropLast()) + "," + String(secrets.dropFirst())
    }
}
