/// Wire types of the public API that only the gateway reads (the rest pass through to the services).
public enum GatewayAPI {
    /// The body of `POST /v1/checkout` (DESIGN, "Public API"): the card is a token by the time anything
    /// behind the gateway sees it.
    public struct Checkout: Codable, Sendable {
        public var items: [Item]
        public var payment: PaymentAPI.Card
        public var shipping: ShippingAPI.Address

        public init(items: [Item], payment: PaymentAPI.Card, shipping: ShippingAPI.Address) {
            self.items = items
            self.payment = payment
            self.shipping = shipping
        }
    }
}
