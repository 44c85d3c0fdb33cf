import Contracts
import FoundationEssentials
import HTTP
import Platform
import ServiceKit
import Storage

/// The payment service's HTTP API: tokenise a card, authorise, void, capture.
struct PaymentRoutes {
    let database: any Database
    let store: PaymentStore

    func mount(on router: inout Router) {
        router.post("/v1/payment-methods") { request in
            let card = try request.decode(PaymentAPI.Card.self)
            let problems = CardValidator.problems(card)
            guard problems.isEmpty else { throw HTTPError.validation(problems.joined(separator: "; ") + ".") }
            let checked = CardValidator.check(card)
            // 128 bits from the kernel's CSPRNG: the token is a capability to charge the card.
            let token = "pm_" + Hex.encode(SecureRandom.bytes(16))
            let method = try await database.write { try store.saveMethod($0, token: token, checked: checked, card: card) }
            return try Response.json(method, status: .created)
        }
        router.post("/v1/payments/authorize") { request in
            let command = try request.decode(PaymentAPI.Authorize.self)
            var check = Validation()
            check.text(command.paymentId, "paymentId", max: 100)
            check.text(command.orderId, "orderId", max: 100)
            check.text(command.token, "token", max: 100)
            check.range(command.amountCents, "amountCents", 0...100_000_000_000)
            check.currency(command.currency, "currency")
            try check.validate()
            do {
                return try await database.command(request, keyring: store.keyring) {
                    try Response.json(try store.authorize($0, command), status: .created)
                }
            } catch is PaymentStore.IssuerUnavailable {
                // The simulated issuer is down for this card: a technical failure, rolled back with its
                // transaction and not recorded, so the saga's retry meets the same outage until its deadline.
                throw HTTPError(.serviceUnavailable, code: "issuer_unavailable", detail: "The card issuer did not answer.")
            }
        }
        router.post("/v1/payments/{id}/void") { request in
            let id = request.parameters["id"] ?? ""
            return try await database.command(request, keyring: store.keyring) { try Response.json(try store.void($0, id: id)) }
        }
        router.post("/v1/payments/{id}/capture") { request in
            let id = request.parameters["id"] ?? ""
            return try await database.command(request, keyring: store.keyring) { try Response.json(try store.capture($0, id: id)) }
        }
        router.post("/v1/payments/{id}/refund") { request in
            let id = request.parameters["id"] ?? ""
            return try await database.command(request, keyring: store.keyring, audit: ("payment.refund", id)) {
                try Response.json(try store.refund($0, id: id))
            }
        }
        // Tombstones of voids that overtook their authorisation (no order) are left out: they hold nothing.
        Reconciliation.mountEffects(
            "/v1/reconciliation/payments",
            on: &router,
            database: database,
            sql: """
                SELECT id, order_id, status, amount_cents AS amount, currency, created_at, updated_at FROM payments
                WHERE order_id <> '' AND id > $1 ORDER BY id LIMIT $2
                """
        )
        router.get("/v1/payments/{id}") { request in
            let id = request.parameters["id"] ?? ""
            guard let payment = try await database.read({ try store.payment($0, id: id) }), !payment.orderId.isEmpty else {
                throw HTTPError.notFound("No payment with this id.")
            }
            return try Response.json(payment)
        }
        router.get("/v1/payments") { request in
            let orderId = request.query["orderId"]
            return try Response.json(Page(items: try await database.read { try store.payments($0, orderId: orderId) }, next: nil))
        }
    }
}

extension PaymentError: ProblemConvertible {
    /// How the refusal is shown to the caller.
    var problem: HTTPError {
        switch self {
        case .unknownToken: return HTTPError(.unprocessableContent, code: "unknown_payment_method", detail: "Unknown payment token.")
        case .notFound: return HTTPError.notFound("No payment with this id.")
        case .voided: return HTTPError(.conflict, code: "payment_voided", detail: "The payment was voided.")
        case .declined(let insufficient):
            return HTTPError(
                .paymentRequired,
                code: "payment_declined",
                detail: insufficient ? "The card has insufficient funds." : "The card was declined.",
                extra: ["reason": insufficient ? "insufficient_funds" : "declined"]
            )
        case .invalidState(let status): return HTTPError(.conflict, code: "invalid_state", detail: "The payment is \(status).")
        }
    }
}
