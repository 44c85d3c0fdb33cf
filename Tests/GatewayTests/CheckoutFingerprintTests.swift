import Contracts
import Foundation
import ServiceKit
import Testing

@testable import Gateway

/// A checkout's fingerprint is stored with its Idempotency-Key, so its text must never change: a retry after
/// an upgrade would otherwise be refused as another request. It is the keyed HMAC of the items and the
/// address as JSONEncoder writes them with sorted keys (slashes escaped).
@Suite("Checkout fingerprints")
struct CheckoutFingerprintTests {
    let keyring = Keyring(activeKeyID: "k1", keys: ["k1": Data(repeating: 1, count: 32)], indexKey: Data(repeating: 2, count: 32))

    func checkout(_ line1: String, items: [Item]) -> GatewayAPI.Checkout {
        GatewayAPI.Checkout(
            items: items,
            payment: PaymentAPI.Card(cardNumber: "4242424242424242", expMonth: 12, expYear: 2030, cvc: "123"),
            shipping: ShippingAPI.Address(name: "Zoë \"Z\" O'Neil", line1: line1, city: "Berlin", postalCode: "10115", country: "DE")
        )
    }

    @Test func theFingerprintIsTheHMACOfJSONEncodersText() throws {
        struct Fingerprinted: Encodable {
            let items: [Item]
            let shipping: ShippingAPI.Address
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for request in [
            checkout("Flat 2/3, 1 Road", items: [Item(sku: "A-1", quantity: 2), Item(sku: "B/2", quantity: 1)]),
            checkout("1 Road\\back", items: [Item(sku: "C", quantity: 1000)]),
        ] {
            let text = String(decoding: try encoder.encode(Fingerprinted(items: request.items, shipping: request.shipping)), as: UTF8.self)
            #expect(request.fingerprint(keyring) == keyring.index(text, purpose: "checkout-fingerprint"), "\(text)")
        }
        let one = checkout("1 Road", items: [Item(sku: "A", quantity: 1)])
        var other = one
        other.payment.cardNumber = "4000000000000002"
        #expect(one.fingerprint(keyring) == other.fingerprint(keyring), "the card is left out")
        #expect(one.fingerprint(keyring) != checkout("2 Road", items: one.items).fingerprint(keyring))
    }
}
