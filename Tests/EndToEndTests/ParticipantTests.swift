import Foundation
import HTTP
import ServiceKit
import TestSupport
import Testing

/// The participants' command rules, called directly with a service token as the saga would.
@Suite("Participants: idempotent commands, compensations that come first, card data", .serialized)
struct ParticipantTests {
    func command(_ system: SagaMartSystem, _ service: String, _ path: String, key: String, json: String = "{}") async throws -> Response {
        // As the saga, or (tokenising a card) as the gateway: whoever the access table lets call the route.
        let allowed = ServiceAccess.of(service).rule(method: "POST", path: path)?.callers ?? []
        let caller = allowed.contains("saga") ? "saga" : allowed.sorted().first ?? "saga"
        var headers = ServiceAuthenticator.development(service: caller).authorization(for: service)
        headers.add(name: "Idempotency-Key", value: key)
        headers.add(name: "Content-Type", value: "application/json")
        return try await system.client.execute(
            ClientRequest(method: "POST", url: system.url(service) + path, headers: headers, body: Array(json.utf8))
        )
    }

    @Test func aCompensationThatArrivesFirstSucceedsAndKeepsTheLateActionOut() async throws {
        let system = try await SharedSystem.shared.get()
        let sku = uniqueSKU("LATE")
        try await system.createProduct(sku, stock: 5)
        let id = UUID().uuidString.lowercased()

        let release = try await command(system, "inventory", "/v1/reservations/\(id)/release", key: "\(id):2:undo")
        #expect(release.status.code == 200)
        let reserve = try await command(
            system,
            "inventory",
            "/v1/reservations",
            key: "\(id):2:do",
            json: #"{"reservationId":"\#(id)","items":[{"sku":"\#(sku)","quantity":2}]}"#
        )
        #expect(reserve.status.code == 409)
        #expect(try await system.available(sku) == 5)

        let void = try await command(system, "payment", "/v1/payments/\(id)/void", key: "\(id):3:undo")
        #expect(void.status.code == 200)
        let token =
            try await command(
                system,
                "payment",
                "/v1/payment-methods",
                key: "t-\(id)",
                json: #"{"cardNumber":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"}"#
            ).object["token"] as? String ?? ""
        let authorize = try await command(
            system,
            "payment",
            "/v1/payments/authorize",
            key: "\(id):3:do",
            json: #"{"paymentId":"\#(id)","orderId":"o-\#(id)","token":"\#(token)","amountCents":100,"currency":"EUR"}"#
        )
        #expect(authorize.status.code == 409)

        let cancel = try await command(system, "shipping", "/v1/shipments/\(id)/cancel", key: "\(id):4:undo")
        #expect(cancel.status.code == 200)
        let schedule = try await command(
            system,
            "shipping",
            "/v1/shipments",
            key: "\(id):4:do",
            json:
                #"{"shipmentId":"\#(id)","orderId":"o-\#(id)","address":{"name":"A","line1":"1","city":"B","postalCode":"1","country":"DE"}}"#
        )
        #expect(schedule.status.code == 409)

        let reject = try await command(system, "order", "/v1/orders/\(id)/reject", key: "\(id):1:undo", json: #"{"reason":"timeout"}"#)
        #expect(reject.status.code == 200)
        let create = try await command(
            system,
            "order",
            "/v1/orders",
            key: "\(id):1:do",
            json: #"{"orderId":"\#(id)","customerId":"alice","checkoutId":"c","items":[{"sku":"\#(sku)","quantity":1}]}"#
        )
        #expect(create.status.code == 409)
    }

    @Test func aRepeatedCommandChangesNothingAndGetsTheFirstAnswer() async throws {
        let system = try await SharedSystem.shared.get()
        let sku = uniqueSKU("TWICE")
        try await system.createProduct(sku, stock: 5)
        let id = UUID().uuidString.lowercased()
        let body = #"{"reservationId":"\#(id)","items":[{"sku":"\#(sku)","quantity":2}]}"#
        let first = try await command(system, "inventory", "/v1/reservations", key: "\(id):2:do", json: body)
        let second = try await command(system, "inventory", "/v1/reservations", key: "\(id):2:do", json: body)
        #expect(first.status.code == 201)
        #expect(second.status.code == 201)
        #expect(second.body == first.body)
        #expect(second.headers["Idempotent-Replay"] == "true")
        #expect(try await system.available(sku) == 3)
        let other = try await command(
            system,
            "inventory",
            "/v1/reservations",
            key: "\(id):2:do",
            json: body.replacingOccurrences(of: "2}", with: "3}")
        )
        #expect(other.status.code == 422)
        #expect(try await system.available(sku) == 3)
    }

    /// An issuer that does not answer is a technical failure: 503, rolled back with the command's
    /// transaction and not recorded, so the same command sent again meets the issuer as it is then instead of
    /// a replayed 503.
    @Test func anIssuerOutageIsAnsweredAndNotRecorded() async throws {
        let system = try await SharedSystem.shared.get()
        let card = #"{"cardNumber":"4000000000000119","expMonth":12,"expYear":2030,"cvc":"123"}"#
        let method = try await command(system, "payment", "/v1/payment-methods", key: UUID().uuidString, json: card)
        #expect(method.status.code == 201, "\(method.bodyText)")
        let token = try #require(method.object["token"] as? String)
        let paymentId = UUID().uuidString.lowercased()
        let body = #"{"paymentId":"\#(paymentId)","orderId":"o-\#(paymentId)","token":"\#(token)","amountCents":500,"currency":"EUR"}"#
        for _ in 0..<2 {
            let answer = try await command(system, "payment", "/v1/payments/authorize", key: "\(paymentId):authorize", json: body)
            #expect(answer.status.code == 503, "\(answer.bodyText)")
            #expect(answer.object["code"] as? String == "issuer_unavailable")
            #expect(answer.headers["Idempotent-Replay"] == nil, "a technical failure is not an answer to replay")
        }
        let payment = try await system.service("payment", "GET", "/v1/payments/\(paymentId)")
        #expect(payment.status.code == 404, "nothing of it was kept")
    }

    @Test func cardNumbersReachNoDatabaseAndNoLog() async throws {
        let system = try await SharedSystem.shared.get()
        let sku = uniqueSKU("CARD")
        try await system.createProduct(sku, stock: 5)
        let card = "5555555555554444"
        let response = try await system.checkout(checkoutBody(sku: sku, card: card))
        #expect(response.status.code == 201)
        let order = try await system.order(try #require(response.object["orderId"] as? String))
        #expect((order["payment"] as? [String: Any])?["status"] as? String == "CAPTURED")
        var scanned = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: system.directory) {
            let data = try Data(contentsOf: URL(fileURLWithPath: system.directory + "/" + file))
            #expect(data.range(of: Data(card.utf8)) == nil, "card number found in \(file)")
            scanned += 1
        }
        #expect(scanned >= 6)
        for service in SagaMartSystem.services {
            #expect(!system.output(service).contains(card), "card number in the \(service) log")
        }
    }

    @Test func carrierEventsAndRefund() async throws {
        let system = try await SharedSystem.shared.get()
        let sku = uniqueSKU("SHIP")
        try await system.createProduct(sku, stock: 5)
        let response = try await system.checkout(checkoutBody(sku: sku))
        let shipmentId = try #require(response.object["shipmentId"] as? String)
        #expect(try await system.call("POST", "/v1/shipments/\(shipmentId)/deliver", key: admin).status.code == 409)
        #expect(try await system.call("POST", "/v1/shipments/\(shipmentId)/dispatch", key: alice).status.code == 403)
        let dispatched = try await system.call("POST", "/v1/shipments/\(shipmentId)/dispatch", key: admin)
        #expect(dispatched.object["status"] as? String == "DISPATCHED")
        let delivered = try await system.call("POST", "/v1/shipments/\(shipmentId)/deliver", key: admin)
        #expect(delivered.object["status"] as? String == "DELIVERED")
        let order = try await system.order(try #require(response.object["orderId"] as? String))
        #expect((order["shipment"] as? [String: Any])?["status"] as? String == "DELIVERED")

        let paymentId = try #require(response.object["paymentId"] as? String)
        let refund = try await command(system, "payment", "/v1/payments/\(paymentId)/refund", key: "refund-\(paymentId)")
        #expect(refund.object["status"] as? String == "REFUNDED")
        let again = try await command(system, "payment", "/v1/payments/\(paymentId)/refund", key: "refund-again-\(paymentId)")
        #expect(again.object["status"] as? String == "REFUNDED")
    }

    /// A reservation is answered as written, without reading it back: the answer must be what
    /// `GET /v1/reservations/{id}` reads right after, with a time to live and held until commit.
    @Test func aReservationIsAnsweredAsAReadReturnsItAfter() async throws {
        let system = try await SharedSystem.shared.get()
        let (a, b) = (uniqueSKU("ASREAD-A"), uniqueSKU("ASREAD-B"))
        try await system.createProduct(a, stock: 9)
        try await system.createProduct(b, stock: 9)
        for holdUntilCommit in [false, true] {
            let id = UUID().uuidString.lowercased()
            let items = #"[{"sku":"\#(b)","quantity":2},{"sku":"\#(a)","quantity":1},{"sku":"\#(b)","quantity":1}]"#
            let json = #"{"reservationId":"\#(id)","items":\#(items),"holdUntilCommit":\#(holdUntilCommit)}"#
            let reserved = try await command(system, "inventory", "/v1/reservations", key: "\(id):do", json: json)
            #expect(reserved.status.code == 201)
            #expect((reserved.object["expiresAt"] == nil) == holdUntilCommit)
            let token = ServiceAuthenticator.development(service: "saga").authorization(for: "inventory")
            let read = try await system.client.get("\(system.url("inventory"))/v1/reservations/\(id)", headers: token)
            #expect(read.status.code == 200)
            #expect(reserved.dictionary == read.dictionary)
        }
    }

    /// The store answers a command with the payment as it wrote it, without reading it back: each answer
    /// must be what `GET /v1/payments/{id}` reads right after (brand and last four digits opened included).
    @Test func eachPaymentCommandAnswersWhatAReadReturnsAfterIt() async throws {
        let system = try await SharedSystem.shared.get()
        func read(_ id: String) async throws -> NSDictionary {
            let token = ServiceAuthenticator.development(service: "gateway").authorization(for: "payment")
            let response = try await system.client.get("\(system.url("payment"))/v1/payments/\(id)", headers: token)
            #expect(response.status.code == 200)
            return NSDictionary(dictionary: response.object)
        }
        func tokenise(_ card: String) async throws -> String {
            let json = #"{"cardNumber":"\#(card)","expMonth":12,"expYear":2030,"cvc":"123"}"#
            let method = try await command(system, "payment", "/v1/payment-methods", key: "t-\(UUID())", json: json)
            return try #require(method.object["token"] as? String)
        }
        func authorize(_ id: String, token: String) async throws -> Response {
            let json = #"{"paymentId":"\#(id)","orderId":"o-\#(id)","token":"\#(token)","amountCents":1234,"currency":"EUR"}"#
            return try await command(system, "payment", "/v1/payments/authorize", key: "\(id):do", json: json)
        }
        let captured = UUID().uuidString.lowercased()
        let authorized = try await authorize(captured, token: try await tokenise("4242424242424242"))
        #expect(authorized.status.code == 201)
        #expect(authorized.object["last4"] as? String == "4242")
        #expect(authorized.dictionary == (try await read(captured)))
        let capture = try await command(system, "payment", "/v1/payments/\(captured)/capture", key: "\(captured):capture")
        #expect(capture.object["status"] as? String == "CAPTURED")
        #expect(capture.dictionary == (try await read(captured)))
        let refund = try await command(system, "payment", "/v1/payments/\(captured)/refund", key: "\(captured):refund")
        #expect(refund.object["status"] as? String == "REFUNDED")
        #expect(refund.dictionary == (try await read(captured)))

        let voided = UUID().uuidString.lowercased()
        #expect(try await authorize(voided, token: try await tokenise("5555555555554444")).status.code == 201)
        let void = try await command(system, "payment", "/v1/payments/\(voided)/void", key: "\(voided):undo")
        #expect(void.object["status"] as? String == "VOIDED")
        #expect(void.object["brand"] as? String == "mastercard")
        #expect(void.dictionary == (try await read(voided)))
    }

    @Test func paymentAndShippingPublishTheirStatusChangesInOrder() async throws {
        let system = try await SharedSystem.shared.get()
        let sku = uniqueSKU("FEED")
        try await system.createProduct(sku, stock: 5)
        let response = try await system.checkout(checkoutBody(sku: sku))
        let paymentId = try #require(response.object["paymentId"] as? String)
        let shipmentId = try #require(response.object["shipmentId"] as? String)
        _ = try await system.call("POST", "/v1/shipments/\(shipmentId)/dispatch", key: admin)
        _ = try await system.call("POST", "/v1/shipments/\(shipmentId)/deliver", key: admin)
        let declined = try await system.checkout(checkoutBody(sku: sku, card: "4000000000000002"))
        let declinedOrder = try #require(declined.object["orderId"] as? String)

        func feed(_ service: String) async throws -> [[String: Any]] {
            let token = ServiceAuthenticator.development(service: "gateway").authorization(for: service)
            let page = try await system.client.get("\(system.url(service))/v1/events?after=0&limit=1000", headers: token)
            #expect(page.status.code == 200)
            return page.object["items"] as? [[String: Any]] ?? []
        }
        let payments = try await feed("payment")
        let mine = payments.filter { $0["aggregateId"] as? String == paymentId }
        #expect(mine.compactMap { ($0["data"] as? [String: Any])?["status"] as? String } == ["AUTHORIZED", "CAPTURED"])
        #expect(mine.allSatisfy { $0["type"] as? String == "payment.status_changed" && $0["version"] as? Int == 1 })
        #expect(
            payments.contains {
                ($0["data"] as? [String: Any])?["orderId"] as? String == declinedOrder
                    && ($0["data"] as? [String: Any])?["status"] as? String == "DECLINED"
            }
        )
        let shipments = try await feed("shipping").filter { $0["aggregateId"] as? String == shipmentId }
        #expect(shipments.compactMap { ($0["data"] as? [String: Any])?["status"] as? String } == ["SCHEDULED", "DISPATCHED", "DELIVERED"])
        // The feed is internal: without a service token it answers 401.
        #expect(try await system.client.get("\(system.url("payment"))/v1/events").status.code == 401)
    }
}
