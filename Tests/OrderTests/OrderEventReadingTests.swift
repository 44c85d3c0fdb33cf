import Contracts
import Foundation
import HTTP
import OrderCore
import Testing

/// The order events that read themselves with `JSONScanner` read what `JSONDecoder` reads, and refuse what it
/// refuses: members in any order, unknown ones skipped, escapes, null for an absent optional; a missing or
/// mistyped member, a truncated text or trailing bytes an error.
@Suite("Order events read without JSONDecoder")
struct OrderEventReadingTests {
    static let created = [
        #"{"checkoutId":"c1","currency":"EUR","customerId":"alice","lines":[{"quantity":2,"sku":"MUG-001","unitPriceCents":1250}],"totalCents":2500}"#,
        #"{"totalCents":0,"lines":[],"customerId":"b\u00e9b \"q\" \\ \/","currency":"JPY","checkoutId":"東京","extra":{"a":[1,2,{"b":null}]}}"#,
        #" { "customerId" : "a" , "checkoutId" : "c" , "lines" : [ { "sku" : "S" , "quantity" : -3 , "unitPriceCents" : 9223372036854775807 , "note" : true } , {"sku":"T","quantity":1,"unitPriceCents":1} ] , "totalCents" : 1 , "currency" : "EUR" } "#,
        #"{"customerId":"a","checkoutId":"c","lines":[],"totalCents":1}"#,
        #"{"customerId":"a","checkoutId":"c","lines":[{"sku":"S","quantity":1}],"totalCents":1,"currency":"EUR"}"#,
        #"{"customerId":null,"checkoutId":"c","lines":[],"totalCents":1,"currency":"EUR"}"#,
        #"{"customerId":"a","checkoutId":"c","lines":{},"totalCents":1,"currency":"EUR"}"#,
        #"{"customerId":"a","checkoutId":"c","lines":[],"totalCents":"1","currency":"EUR"}"#,
        #"{"customerId":"a","checkoutId":"c","lines":[],"totalCents":1,"currency":"EUR"} x"#,
        #"{"customerId":"a","checkoutId":"c","lines":[],"totalCents":1,"currency":"EUR""#,
        #"[]"#, "",
    ]

    static let approved = [
        #"{"paymentId":"p1","shipmentId":"s1"}"#, #"{"paymentId":null}"#, "{}", #"{"shipmentId":"s","other":1}"#,
        #"{"paymentId":1}"#, #"{"paymentId":"p" "shipmentId":"s"}"#, "null",
    ]

    static let changed = [
        #"{"paymentId":"p1","status":"CAPTURED"}"#, #"{"status":"REFUNDED","paymentId":"p\n1","shipmentId":"x"}"#,
        #"{"paymentId":"p1"}"#, #"{"paymentId":"p1","status":null}"#,
        #"{"paymentId":"p1","status":"A","paymentId":"p2","status":"B"}"#,
    ]

    private func same<Payload: OrderEventPayload & Equatable>(_: Payload.Type, _ text: String) {
        let decoded = try? JSON.decoder().decode(Payload.self, from: Data(text.utf8))
        let read = try? Payload.read(Array(text.utf8))
        #expect(read == decoded, "\(text)")
    }

    @Test(arguments: created)
    func createdReadsAsTheDecoderDoes(text: String) { same(OrderEvents.Created.self, text) }

    @Test(arguments: approved)
    func approvedReadsAsTheDecoderDoes(text: String) { same(OrderEvents.Approved.self, text) }

    @Test(arguments: changed)
    func paymentAndShipmentChangesReadAsTheDecoderDoes(text: String) {
        same(OrderEvents.PaymentChanged.self, text)
        same(OrderEvents.ShipmentChanged.self, text.replacingOccurrences(of: "paymentId", with: "shipmentId"))
    }

    /// JSONDecoder lets a trailing comma pass; RFC 8259 does not, and neither does the scanner (nothing of
    /// ours writes one).
    @Test func aTrailingCommaIsRefused() {
        let text = Array(#"{"paymentId":"p1","status":"A",}"#.utf8)
        #expect(throws: (any Error).self) { try OrderEvents.PaymentChanged.read(text) }
    }

    /// What the service writes (JSONWriter), it reads back through `OrderEvent.decode`.
    @Test func everyEventWrittenIsReadBack() throws {
        let events: [OrderEvent] = [
            .created(
                OrderEvents.Created(
                    customerId: "alice",
                    checkoutId: "c-1",
                    lines: [OrderAPI.Line(sku: "MUG-001", quantity: 2, unitPriceCents: 1250)],
                    totalCents: 2500,
                    currency: "EUR"
                )
            ),
            .approved(OrderEvents.Approved(paymentId: "p-1", shipmentId: nil)),
            .paymentChanged(OrderEvents.PaymentChanged(paymentId: "p-1", status: "REFUNDED")),
            .shipmentChanged(OrderEvents.ShipmentChanged(shipmentId: "s-1", status: "DISPATCHED")),
            .rejected(OrderEvents.Rejected(reason: "payment_declined")),
        ]
        for event in events {
            #expect(try OrderEvent.decode(type: event.type, version: event.version, data: try event.encodedData()) == event)
        }
    }
}
