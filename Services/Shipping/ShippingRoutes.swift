import Contracts
import FoundationEssentials
import HTTP
import ServiceKit
import Storage

/// The shipping service's HTTP API.
struct ShippingRoutes {
    let database: any Database
    let keyring: Keyring

    func mount(on router: inout Router) {
        router.post("/v1/shipments") { request in
            let command = try request.decode(ShippingAPI.Schedule.self)
            var check = Validation()
            check.text(command.shipmentId, "shipmentId", max: 100)
            check.text(command.orderId, "orderId", max: 100)
            Self.validate(command.address, into: &check)
            try check.validate()
            return try await database.command(request, keyring: keyring) {
                try Response.json(try ShippingStore.schedule($0, command, keyring: keyring), status: .created)
            }
        }
        router.post("/v1/shipments/{id}/cancel") { request in
            let id = request.parameters["id"] ?? ""
            return try await database.command(request, keyring: keyring) { try Response.json(try ShippingStore.cancel($0, id: id)) }
        }
        router.post("/v1/shipments/{id}/dispatch") { request in
            let id = request.parameters["id"] ?? ""
            return try await database.command(request, keyring: keyring, audit: ("shipment.dispatch", id)) {
                try Response.json(try ShippingStore.advance($0, id: id, from: .scheduled, to: .dispatched))
            }
        }
        router.post("/v1/shipments/{id}/deliver") { request in
            let id = request.parameters["id"] ?? ""
            return try await database.command(request, keyring: keyring, audit: ("shipment.deliver", id)) {
                try Response.json(try ShippingStore.advance($0, id: id, from: .dispatched, to: .delivered))
            }
        }
        // Tombstones of cancellations that overtook their schedule (no order) are left out: they hold nothing.
        Reconciliation.mountEffects(
            "/v1/reconciliation/shipments",
            on: &router,
            database: database,
            sql: """
                SELECT id, order_id, status, CAST(0 AS BIGINT) AS amount, NULL AS currency, created_at, updated_at FROM shipments
                WHERE order_id <> '' AND id > $1 ORDER BY id LIMIT $2
                """
        )
        router.get("/v1/shipments/{id}") { request in
            let id = request.parameters["id"] ?? ""
            guard let shipment = try await database.read({ try ShippingStore.shipment($0, id: id) }), !shipment.orderId.isEmpty else {
                throw HTTPError.notFound("No shipment with this id.")
            }
            return try Response.json(shipment)
        }
    }

    /// The address checks the gateway also applies before a checkout starts.
    static func validate(_ address: ShippingAPI.Address, into check: inout Validation) {
        check.text(address.name, "shipping.name")
        check.text(address.line1, "shipping.line1")
        check.text(address.city, "shipping.city", max: 100)
        check.text(address.postalCode, "shipping.postalCode", max: 20)
        check.check(
            address.country.count == 2 && address.country.allSatisfy { $0.isASCII && $0.isLetter },
            "shipping.country must be a two-letter code"
        )
    }
}

extension ShippingError: ProblemConvertible {
    /// How the refusal is shown to the caller.
    var problem: HTTPError {
        switch self {
        case .undeliverable(let country):
            return HTTPError(.unprocessableContent, code: "undeliverable", detail: "The carrier cannot deliver to \(country).")
        case .cancelled: return HTTPError(.conflict, code: "shipment_cancelled", detail: "The shipment was cancelled.")
        case .notFound: return HTTPError.notFound("No shipment with this id.")
        case .invalidState(let status): return HTTPError(.conflict, code: "invalid_state", detail: "The shipment is \(status).")
        case .alreadyDispatched(let status):
            return HTTPError(.conflict, code: "already_dispatched", detail: "The shipment is \(status): it can no longer be cancelled.")
        }
    }
}
