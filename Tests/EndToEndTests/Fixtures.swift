import Foundation
import HTTP
import ServiceKit
import TestSupport
import Testing

let admin = "admin-dev-key"
let alice = "alice-dev-key"
let bob = "bob-dev-key"

/// A checkout body (DESIGN's shape), with the card, country and items a test needs.
func checkoutBody(
    sku: String,
    quantity: Int = 1,
    card: String = "4242424242424242",
    expYear: Int = 2030,
    country: String = "DE"
) -> String {
    """
    {"items":[{"sku":"\(sku)","quantity":\(quantity)}],
     "payment":{"cardNumber":"\(card)","expMonth":12,"expYear":\(expYear),"cvc":"123"},
     "shipping":{"name":"Alice Example","line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"\(country)"}}
    """
}

/// A unique SKU for one test, so tests sharing a system do not disturb each other.
func uniqueSKU(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8))" }

extension Response {
    /// The body as a JSON object.
    var object: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]) ?? [:] }
    /// The body's object, compared as a whole (`==` between two of them compares every key and value).
    var dictionary: NSDictionary { NSDictionary(dictionary: object) }
}

extension SagaMartSystem {
    func createProduct(_ sku: String, stock: Int, priceCents: Int = 1000) async throws {
        let response = try await call(
            "POST",
            "/v1/products",
            key: admin,
            json: #"{"sku":"\#(sku)","name":"Test \#(sku)","priceCents":\#(priceCents),"currency":"EUR","stock":\#(stock)}"#
        )
        #expect(response.status.code == 201, "create product: \(response.bodyText)")
    }

    /// Available stock as inventory has it now (the gateway's catalog cache follows it a moment later).
    func available(_ sku: String) async throws -> Int {
        let token = ServiceAuthenticator.development(service: "gateway").authorization(for: "inventory")
        return try await client.get("\(url("inventory"))/v1/products/\(sku)", headers: token).object["available"] as? Int ?? -1
    }

    func checkout(
        _ body: String,
        key: String = alice,
        idempotencyKey: String = UUID().uuidString,
        headers: [(String, String)] = []
    ) async throws
        -> Response
    {
        try await call("POST", "/v1/checkout", key: key, json: body, headers: [("Idempotency-Key", idempotencyKey)] + headers)
    }

    /// The order document the gateway assembles.
    func order(_ id: String, key: String = admin) async throws -> [String: Any] {
        (try await call("GET", "/v1/orders/\(id)", key: key)).object
    }

    /// A call to one service as a caller the access table allows would make it (the saga for a command,
    /// the gateway for a read), bypassing the public API.
    func service(
        _ service: String,
        _ method: String,
        _ path: String,
        json: String? = nil,
        as caller: String? = nil
    ) async throws
        -> Response
    {
        let allowed = ServiceAccess.of(service).rule(method: method, path: path)?.callers ?? []
        let chosen = caller ?? ["saga", "gateway", "order", "auditor"].first { allowed.contains($0) } ?? "gateway"
        var headers = ServiceAuthenticator.development(service: chosen).authorization(for: service)
        if json != nil { headers.add(name: "Content-Type", value: "application/json") }
        headers.add(name: "Idempotency-Key", value: UUID().uuidString)
        return try await client.execute(
            ClientRequest(method: method, url: url(service) + path, headers: headers, body: Array((json ?? "").utf8))
        )
    }

    /// Polls `probe` every 50 ms until it holds, up to `limit`; returns whether it held.
    func eventually(_ limit: Duration = .seconds(20), _ probe: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await probe() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await probe()
    }

    /// Polls a checkout until its saga has finished (or the limit passes).
    func waitForCheckout(_ id: String, limit: Duration = .seconds(60)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let checkout = (try? await call("GET", "/v1/checkouts/\(id)", key: admin))?.object ?? [:]
            if let status = checkout["status"] as? String, ["COMPLETED", "COMPENSATED", "FAILED"].contains(status) { return checkout }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await call("GET", "/v1/checkouts/\(id)", key: admin).object
    }

    /// The invariants after any run: stock conserved, money captured equals the totals of approved orders,
    /// nothing charged for a rejected order, at most one payment per order.
    func checkInvariants(sku: String, initialStock: Int, priceCents: Int) async throws {
        var orders: [[String: Any]] = []
        var after = ""
        repeat {
            let page = try await call("GET", "/v1/orders?limit=200" + (after.isEmpty ? "" : "&after=\(after)"), key: admin).object
            orders += page["items"] as? [[String: Any]] ?? []
            after = page["next"] as? String ?? ""
        } while !after.isEmpty
        var sold = 0
        var approvedTotal = 0
        var captured = 0
        for summary in orders {
            let items = summary["items"] as? [[String: Any]] ?? []
            guard items.contains(where: { $0["sku"] as? String == sku }) else { continue }
            let order = try await self.order(summary["id"] as! String)
            let payment = order["payment"] as? [String: Any]
            let status = order["status"] as? String
            if status == "CANCELLED" {
                #expect(payment?["status"] as? String == "REFUNDED", "cancelled order \(summary["id"]!) not refunded")
            }
            if ["APPROVED", "SHIPPED", "DELIVERED"].contains(status) {
                sold += items.reduce(0) { $0 + ($1["quantity"] as? Int ?? 0) }
                approvedTotal += order["totalCents"] as? Int ?? 0
                #expect(payment?["status"] as? String == "CAPTURED", "approved order \(summary["id"]!) not captured")
            } else {
                #expect(payment?["status"] as? String != "CAPTURED", "order \(summary["id"]!) is \(status ?? "?") but charged")
            }
            if payment?["status"] as? String == "CAPTURED" { captured += order["totalCents"] as? Int ?? 0 }
        }
        #expect(try await available(sku) + sold == initialStock, "stock not conserved")
        #expect(captured == approvedTotal, "captured money differs from approved totals")
        #expect(approvedTotal == sold * priceCents)
    }
}

extension SagaMartSystem {
    /// The consistency auditor's report through the gateway: nil when clean, else the report.
    func auditorViolations() async throws -> String? {
        let report = try await call("GET", "/v1/admin/consistency", key: admin).object
        return report["ok"] as? Bool == true ? nil : "\(report)"
    }
}
