import Foundation
import HTTP
import TestSupport
import Testing

/// An operator's view of stuck and failed sagas, and their actions (retry, resume, force-compensate), each
/// with a reason recorded with who and when, each idempotent; faults injected through the gateway.
@Suite("Operators and stuck or failed sagas", .serialized)
struct OperatorTests {
    func setFaults(_ system: SagaMartSystem, _ service: String, _ spec: String) async throws {
        let response = try await system.call("POST", "/v1/admin/faults?service=\(service)", key: admin, json: #"{"faults":"\#(spec)"}"#)
        #expect(response.status.code == 200, "\(response.bodyText)")
    }

    func act(
        _ system: SagaMartSystem,
        _ action: String,
        _ id: String,
        reason: String?,
        key: String = UUID().uuidString
    ) async throws
        -> Response
    {
        let body = reason.map { #"{"reason":"\#($0)"}"# } ?? "{}"
        return try await system.call("POST", "/v1/sagas/\(id)/\(action)", key: admin, json: body, headers: [("Idempotency-Key", key)])
    }

    func gauge(_ system: SagaMartSystem, _ name: String) async throws -> Double? {
        let text = try await system.service("saga", "GET", "/metrics").bodyText
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    func saga(_ system: SagaMartSystem, _ id: String) async throws -> [String: Any] {
        try await system.call("GET", "/v1/checkouts/\(id)", key: admin).object
    }

    @Test func aFailedSagaIsParkedAndAnOperatorsRetryFinishesIt() async throws {
        let system = try await SagaMartSystem(layout: .sqlite, overrides: ["payment": ["FAULT_INJECTION": "on"]])
        defer { system.stopAll() }
        let sku = uniqueSKU("PARKED")
        try await system.createProduct(sku, stock: 5, priceCents: 900)
        // A service started without FAULT_INJECTION=on refuses the route.
        let refused = try await system.call("POST", "/v1/admin/faults?service=order", key: admin, json: #"{"faults":""}"#)
        #expect(refused.status.code == 409)
        #expect(refused.object["code"] as? String == "fault_injection_off")
        #expect(try await system.call("POST", "/v1/admin/faults?service=payment", key: alice, json: #"{"faults":""}"#).status.code == 403)
        // Capture is refused past the pivot: the saga cannot go back, so it is FAILED for an operator.
        try await setFaults(system, "payment", "participant.before_commit@payment.capture:fail(409)")
        let body = checkoutBody(sku: sku, quantity: 2)
        let key = UUID().uuidString
        let answer = try await system.checkout(body, idempotencyKey: key)
        #expect(answer.status.code == 202, "a FAILED saga is not final: \(answer.bodyText)")
        let id = try #require(answer.object["checkoutId"] as? String)
        #expect(try await system.eventually { try await saga(system, id)["status"] as? String == "FAILED" })
        let parked = try await system.call("GET", "/v1/sagas?status=FAILED", key: admin).object["items"] as? [[String: Any]] ?? []
        #expect(parked.contains { $0["id"] as? String == id })
        #expect(try await system.eventually { try await gauge(system, "sagas_failed") == 1 })
        let faults = try await system.call("GET", "/v1/admin/faults?service=payment", key: admin).object
        #expect((faults["fired"] as? [String: Int])?["participant.before_commit/fail"] == 1)
        #expect(try await system.service("payment", "GET", "/metrics").bodyText.contains("faults_fired{"))

        // The fault is removed; the operator retries, with a reason (none: 422), once for two requests.
        try await setFaults(system, "payment", "")
        #expect(try await act(system, "retry", id, reason: nil).status.code == 422)
        let retryKey = UUID().uuidString
        let retried = try await act(system, "retry", id, reason: "capture refused by an injected fault, now removed", key: retryKey)
        #expect(retried.status.code == 202, "\(retried.bodyText)")
        let again = try await act(system, "retry", id, reason: "capture refused by an injected fault, now removed", key: retryKey)
        #expect(again.status.code == 202)
        #expect(again.headers["Idempotent-Replay"] == "true")
        #expect(try await system.waitForCheckout(id)["status"] as? String == "COMPLETED")
        #expect(try await act(system, "retry", id, reason: "again").status.code == 409, "only a FAILED saga is retried")
        let steps = try await saga(system, id)["steps"] as? [[String: Any]] ?? []
        #expect(steps.contains { ($0["note"] as? String)?.hasPrefix("operator:admin: capture refused") == true }, "\(steps)")
        let audit =
            try await system.call("GET", "/v1/admin/audit?service=saga&target=\(id)", key: admin).object["items"] as? [[String: Any]] ?? []
        #expect(audit.filter { $0["action"] as? String == "saga.retry" }.count == 1, "\(audit)")
        let final = try await system.checkout(body, idempotencyKey: key)
        #expect(final.status.code == 201, "the key now answers the finished checkout: \(final.bodyText)")
        #expect(try await system.eventually { try await gauge(system, "sagas_failed") == 0 })
        #expect(try await system.auditorViolations() == nil)
    }

    @Test func aStuckSagaIsFlaggedResumedOrCompensatedBeforeThePivotOnly() async throws {
        let system = try await SagaMartSystem(
            layout: .sqlite,
            overrides: [
                "shipping": ["FAULT_INJECTION": "on"], "payment": ["FAULT_INJECTION": "on"],
                "saga": ["SAGA_STEP_DEADLINE": "60s", "SAGA_STUCK_AFTER": "1s"],
            ]
        )
        defer { system.stopAll() }
        let sku = uniqueSKU("STUCK")
        try await system.createProduct(sku, stock: 5, priceCents: 900)
        // Shipping fails technically: the saga retries it (the deadline is a minute away) and is stuck.
        try await setFaults(system, "shipping", "participant.before_commit@shipping.schedule:do:fail(503)")
        let started = try await system.checkout(checkoutBody(sku: sku), headers: [("Prefer", "respond-async")])
        let id = try #require(started.object["checkoutId"] as? String)
        #expect(
            try await system.eventually {
                let list = try await system.call("GET", "/v1/sagas?status=RUNNING", key: admin).object["items"] as? [[String: Any]] ?? []
                return list.contains { $0["id"] as? String == id && $0["stuck"] as? Bool == true }
            }
        )
        #expect(try await system.eventually { try await gauge(system, "sagas_stuck") ?? 0 >= 1 })
        let resumed = try await act(system, "resume", id, reason: "looking at shipping")
        #expect(resumed.status.code == 202, "\(resumed.bodyText)")
        #expect(resumed.object["stuck"] == nil || resumed.object["stuck"] as? Bool == false)
        let compensateKey = UUID().uuidString
        let compensated = try await act(system, "compensate", id, reason: "carrier down, customer informed", key: compensateKey)
        #expect(compensated.status.code == 202, "\(compensated.bodyText)")
        #expect(try await system.waitForCheckout(id)["status"] as? String == "COMPENSATED")
        #expect(try await act(system, "compensate", id, reason: "carrier down, customer informed", key: compensateKey).status.code == 202)
        #expect(try await act(system, "compensate", id, reason: "again").status.code == 409)
        #expect(try await system.available(sku) == 5)
        let steps = try await saga(system, id)["steps"] as? [[String: Any]] ?? []
        #expect(steps.contains { $0["status"] as? String == "ABANDONED" && ($0["note"] as? String)?.contains("carrier down") == true })

        // Past the pivot the saga only goes forward: 409.
        try await setFaults(system, "shipping", "")
        try await setFaults(system, "payment", "participant.before_commit@payment.capture:fail(503)")
        let second = try await system.checkout(checkoutBody(sku: sku), headers: [("Prefer", "respond-async")])
        let late = try #require(second.object["checkoutId"] as? String)
        #expect(
            try await system.eventually {
                (try await saga(system, late)["steps"] as? [[String: Any]] ?? []).contains { $0["name"] as? String == "payment.capture" }
            }
        )
        let tooLate = try await act(system, "compensate", late, reason: "too late")
        #expect(tooLate.status.code == 409)
        #expect(tooLate.object["code"] as? String == "past_pivot")
        try await setFaults(system, "payment", "")
        #expect(try await system.waitForCheckout(late)["status"] as? String == "COMPLETED")
        #expect(try await system.auditorViolations() == nil)
    }
}
