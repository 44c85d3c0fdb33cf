import Foundation
import HTTP
import ServiceKit
import Storage
import TestSupport
import Testing

/// The consistency auditor against the real system: clean while checkouts run, naming each disagreement
/// planted behind the saga's back, and the reconciliation repairing them.
@Suite(.serialized) struct ConsistencyAuditTests {
    @Test(arguments: Layout.available)
    func theAuditorIsCleanUnderTrafficAndNamesAndRepairsWhatDisagrees(_ layout: Layout) async throws {
        let system = try await SagaMartSystem(layout: layout)
        defer { system.stopAll() }
        do {
            try await audit(system)
        } catch {
            // Which process went away, and what it said last.
            for name in SagaMartSystem.services where !system.isRunning(name) {
                let output = system.output(name)
                try? output.write(toFile: "/tmp/crash-\(name).log", atomically: true, encoding: .utf8)
                Issue.record("\(name) is not running: \(output.suffix(3000))")
            }
            throw error
        }
    }

    func audit(_ system: SagaMartSystem) async throws {
        let sku = uniqueSKU("AUDIT")
        try await system.createProduct(sku, stock: 12)

        // Checkouts (some approved, some declined, some out of stock) while the auditor runs beside them.
        // Each audit taken meanwhile is nil when clean, or its violations.
        let reports = try await withThrowingTaskGroup(of: [String?].self) { group in
            for client in 0..<4 {
                group.addTask {
                    for n in 0..<5 {
                        let card = (client + n) % 3 == 0 ? "4000000000000002" : "4242424242424242"
                        _ = try await system.checkout(checkoutBody(sku: sku, card: card))
                    }
                    return []
                }
            }
            group.addTask {
                var reports: [String?] = []
                for _ in 0..<4 {
                    let report = try await system.call("GET", "/v1/admin/consistency", key: admin).object
                    reports.append(report["ok"] as? Bool == true ? nil : "\(report)")
                }
                return reports
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(reports.count == 4)
        for report in reports { #expect(report == nil, "violations under traffic: \(report ?? "")") }
        #expect(try await system.call("GET", "/v1/admin/consistency", key: alice).status.code == 403)
        #expect(try await system.call("GET", "/v1/admin/consistency", key: nil).status.code == 401)
        let quiet = try await system.runCommand("saga", [], executable: "audit")
        #expect(quiet.code == 0, "\(quiet.output)")
        #expect(quiet.output.contains("OK"))

        // Behind the saga's back: a reservation and an authorisation no saga owns, and an approved order whose
        // payment lost its authorisation and capture (as a payment database restored from before them would).
        // (The traffic may have sold out: an operator's count puts 5 back, which the auditor sees as received.)
        #expect(try await system.call("PUT", "/v1/products/\(sku)/stock", key: admin, json: #"{"available":5}"#).status.code == 200)
        let stray = UUID().uuidString.lowercased()
        let reserve = #"{"reservationId":"\#(stray)","items":[{"sku":"\#(sku)","quantity":1}]}"#
        #expect(try await system.service("inventory", "POST", "/v1/reservations", json: reserve).status.code == 201)
        let card = #"{"cardNumber":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"}"#
        let token = try await system.service("payment", "POST", "/v1/payment-methods", json: card).object["token"] as! String
        let ghost = UUID().uuidString.lowercased()
        let authorize = #"{"paymentId":"\#(ghost)","orderId":"ghost-order","token":"\#(token)","amountCents":500,"currency":"EUR"}"#
        #expect(try await system.service("payment", "POST", "/v1/payments/authorize", json: authorize).status.code < 300)
        let placed = try await system.checkout(checkoutBody(sku: sku, quantity: 1))
        #expect(placed.status.code == 201, "\(placed.bodyText)")
        let paymentId = placed.object["paymentId"] as? String ?? ""
        let paymentDatabase = try Storage.openDatabase(
            url: try DatabaseURL(system.environment(of: "payment")["DATABASE_URL"]!),
            poolSize: 1
        )
        try await paymentDatabase.write { connection in
            try connection.execute("DELETE FROM payments WHERE id = $1", paymentId)
            try connection.execute("DELETE FROM idempotency_keys WHERE key LIKE $1", "%:payment.authorize:do")
            try connection.execute("DELETE FROM idempotency_keys WHERE key LIKE $1", "%:payment.capture:do")
        }

        let report = try await system.call("GET", "/v1/admin/consistency", key: admin).object
        #expect(report["ok"] as? Bool == false)
        let violations = report["violations"] as? [[String: Any]] ?? []
        func found(_ kind: String, _ idKey: String, _ id: String) -> Bool {
            violations.contains { $0["kind"] as? String == kind && ($0["ids"] as? [String: String])?[idKey] == id }
        }
        #expect(found("orphan_reservation", "reservation", stray), "\(violations)")
        #expect(found("orphan_authorization", "payment", ghost), "\(violations)")
        #expect(found("participant_disagrees", "payment", paymentId), "\(violations)")
        #expect(violations.contains { $0["kind"] as? String == "money_not_conserved" }, "\(violations)")
        let text = try await system.runCommand("saga", [], executable: "audit")
        #expect(text.code == 1)
        #expect(text.output.contains("VIOLATION orphan_reservation"), "\(text.output)")

        // The reconciliation re-drives the checkout (authorise and capture again, with their keys) and
        // compensates the orphans; then the auditor is clean, and a second run repairs nothing.
        let repaired = try await system.runCommand("saga", ["reconcile"], executable: "audit")
        #expect(repaired.code == 0, "\(repaired.output)")
        #expect(repaired.output.contains("repair orphan_reservation"), "\(repaired.output)")
        let payment = try await system.service("payment", "GET", "/v1/payments/\(paymentId)").object
        #expect(payment["status"] as? String == "CAPTURED")
        #expect(try await system.service("payment", "GET", "/v1/payments/\(ghost)").object["status"] as? String == "VOIDED")
        #expect(try await system.service("inventory", "GET", "/v1/reservations/\(stray)").object["status"] as? String == "RELEASED")
        let again = try await system.runCommand("saga", ["reconcile"], executable: "audit")
        #expect(again.code == 0)
        #expect(again.output.contains("0 repair(s)"), "\(again.output)")
        #expect(try await system.call("GET", "/v1/admin/consistency", key: admin).object["ok"] as? Bool == true)
    }
}
