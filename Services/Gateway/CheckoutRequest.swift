import Contracts
import FoundationEssentials
import HTTP
import ServiceKit

/// The body of `POST /v1/checkout` (DESIGN, "Public API"), as the gateway checks it.
typealias CheckoutRequest = GatewayAPI.Checkout

extension GatewayAPI.Checkout {
    /// What tells a retry from another request under the same Idempotency-Key: a keyed HMAC of the items
    /// and the address, the card left out (it is a token by the time anything is stored), so no stored
    /// value derives from card data and none can be matched against guesses without the key.
    func fingerprint(_ keyring: Keyring) -> String {
        struct Fingerprinted: Encodable {
            let items: [Item]
            let shipping: ShippingAPI.Address
        }
        // The text stored fingerprints were made of: JSONEncoder's with sorted keys and escaped slashes, which
        // JSONWriter writes at a third of the cost (the encoder was 3.7 % of the gateway's CPU).
        let fingerprinted = Fingerprinted(items: items, shipping: shipping)
        let canonical: [UInt8]
        if let written = try? JSONWriter.encode(fingerprinted, escapingSlashes: true) {
            canonical = written
        } else {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            canonical = Array((try? encoder.encode(fingerprinted)) ?? Data())
        }
        return keyring.index(String(decoding: canonical, as: UTF8.self), purpose: "checkout-fingerprint")
    }

    /// 422 `validation_failed` naming every bad field; nothing reaches a service before this passes.
    func validate() throws {
        var check = Validation()
        check.check(!items.isEmpty && items.count <= 100, "items must hold 1 to 100 lines")
        for (index, item) in items.enumerated() {
            check.text(item.sku, "items[\(index)].sku", max: 64)
            check.range(item.quantity, "items[\(index)].quantity", 1...1000)
        }
        check.text(payment.cardNumber, "payment.cardNumber", max: 25)
        check.text(payment.cvc, "payment.cvc", max: 4)
        check.text(shipping.name, "shipping.name")
        check.text(shipping.line1, "shipping.line1")
        check.text(shipping.city, "shipping.city", max: 100)
        check.text(shipping.postalCode, "shipping.postalCode", max: 20)
        check.check(
            shipping.country.count == 2 && shipping.country.allSatisfy { $0.isASCII && $0.isLetter },
            "shipping.country must be a two-letter code"
        )
        try check.validate()
    }
}

/// The answer to a finished or running checkout, as DESIGN specifies it.
enum CheckoutAnswer {
    static func response(for saga: SagaAPI.Checkout) throws -> Response {
        switch saga.status {
        case .completed:
            return try Response.json(
                GatewayAPI.CheckoutCompleted(
                    orderId: saga.orderId,
                    checkoutId: saga.id,
                    totalCents: saga.totalCents ?? 0,
                    currency: saga.currency ?? "",
                    paymentId: saga.paymentId,
                    shipmentId: saga.shipmentId
                ),
                status: .created
            )
        case .compensated:
            let code = saga.failureCode ?? .checkoutFailed
            return HTTPError(
                HTTPStatus(code: code.httpStatus),
                code: code.rawValue,
                detail: saga.failureDetail,
                extra: ["orderId": saga.orderId, "checkoutId": saga.id]
            ).response
        // RUNNING, COMPENSATING, and FAILED (parked for an operator, whose retry moves it on): not final, so
        // 202 with the checkout's address and never kept for replay. A client is never answered 500 for a
        // saga's state.
        case .running, .compensating, .failed:
            var response = try Response.json(GatewayAPI.CheckoutAccepted(checkoutId: saga.id, status: saga.status), status: .accepted)
            response.headers.add(name: "Location", value: "/v1/checkouts/\(saga.id)")
            return response
        }
    }
}
