import Foundation
import HTTP
import ServiceKit
import TestSupport
import Testing

/// Per-service credentials: each internal route serves the callers its rule names, and 403 to every other
/// service, whose token is otherwise perfectly valid. Every refused pair of the table is tried.
@Suite("Who may call what", .serialized)
struct ServiceAccessTests {
    static func concrete(_ pattern: String) -> String {
        pattern.split(separator: "/").map { $0.hasPrefix("{") ? "x1" : String($0) }.reduce("") { $0 + "/" + $1 }
    }

    @Test("every pair of a route and a caller its rule does not name is refused with 403")
    func everyRefusedPairIsRefused() async throws {
        let system = try await SharedSystem.shared.get()
        var tried = 0
        var wrong: [String] = []
        for (service, access) in ServiceAccess.table {
            for rule in access.rules {
                for caller in ServiceAuthenticator.callers where !rule.callers.contains(caller) {
                    var headers = ServiceAuthenticator.development(service: caller).authorization(for: service)
                    headers.add(name: "Idempotency-Key", value: UUID().uuidString)
                    let response = try await system.client.execute(
                        ClientRequest(method: rule.method, url: system.url(service) + Self.concrete(rule.pattern), headers: headers)
                    )
                    tried += 1
                    if response.status.code != 403 {
                        wrong.append("\(caller) -> \(service) \(rule.method) \(rule.pattern): \(response.status.code)")
                    }
                }
            }
        }
        #expect(wrong.isEmpty, "\(wrong)")
        #expect(tried > 200)
    }

    @Test("the saga answers the gateway's start with its summary (no steps), and anyone else with the whole saga")
    func theSagaAnswersASummaryWhenAsked() async throws {
        let system = try await SharedSystem.shared.get()
        let sku = uniqueSKU("SUMMARY")
        try await system.createProduct(sku, stock: 5)
        let card = #"{"cardNumber":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"}"#
        let token = try await system.service("payment", "POST", "/v1/payment-methods", json: card)
        let paymentToken = try #require(token.object["token"] as? String, "\(token.bodyText)")
        let start = """
            {"checkoutId":"\(UUID().uuidString.lowercased())","customerId":"alice","paymentToken":"\(paymentToken)",
             "items":[{"sku":"\(sku)","quantity":1}],
             "shipping":{"name":"A","line1":"1 Road","city":"Berlin","postalCode":"10115","country":"DE"}}
            """
        let summary = try await system.service("saga", "POST", "/v1/checkouts?waitMs=10000&view=summary", json: start, as: "gateway")
        #expect(summary.status.code == 200, "\(summary.bodyText)")
        #expect(summary.object["status"] as? String == "COMPLETED", "\(summary.bodyText)")
        #expect((summary.object["steps"] as? [Any])?.isEmpty == true, "\(summary.bodyText)")
        let full = try await system.service("saga", "POST", "/v1/checkouts?waitMs=10000", json: start, as: "gateway")
        #expect((full.object["steps"] as? [Any])?.count == 7, "\(full.bodyText)")
        let unknown = try await system.service("saga", "POST", "/v1/checkouts?view=everything", json: start, as: "gateway")
        #expect(unknown.status.code == 422, "\(unknown.bodyText)")
    }

    @Test("a caller a read's rule names is let through")
    func allowedReadsPass() async throws {
        let system = try await SharedSystem.shared.get()
        for (service, access) in ServiceAccess.table {
            for rule in access.rules where rule.method == "GET" {
                for caller in rule.callers {
                    let headers = ServiceAuthenticator.development(service: caller).authorization(for: service)
                    let response = try await system.client.get(system.url(service) + Self.concrete(rule.pattern), headers: headers)
                    #expect(![401, 403].contains(response.status.code), "\(caller) -> \(service) GET \(rule.pattern)")
                }
            }
        }
    }

    @Test("the README's table is the one the services enforce")
    func theReadmeShowsTheTable() throws {
        let readme = try String(contentsOfFile: FileManager.default.currentDirectoryPath + "/README.md", encoding: .utf8)
        #expect(readme.contains(ServiceAccess.markdownTable))
    }
}
