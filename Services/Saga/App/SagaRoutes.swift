import Contracts
import Foundation
import HTTP
import SagaCore
import ServiceKit

/// The saga service's HTTP API: start a checkout, read it, list and retry sagas.
struct SagaRoutes {
    let store: SagaStore
    let runner: SagaRunner

    func mount(on router: inout Router) {
        router.post("/v1/checkouts") { request in
            let start = try request.decode(SagaAPI.StartCheckout.self)
            var check = Validation()
            check.text(start.checkoutId, "checkoutId", max: 100)
            check.text(start.customerId, "customerId", max: 100)
            check.text(start.paymentToken, "paymentToken", max: 100)
            check.check(!start.items.isEmpty && start.items.count <= 100, "items must hold 1 to 100 lines")
            try check.validate()
            let wait = Duration.milliseconds(min(max(Int64(request.query["waitMs"] ?? "0") ?? 0, 0), 30_000))
            let saga = CheckoutSaga(
                id: start.checkoutId,
                customerId: start.customerId,
                orderId: UUIDv7.generate().uuidString.lowercased(),
                paymentId: UUIDv7.generate().uuidString.lowercased(),
                shipmentId: UUIDv7.generate().uuidString.lowercased(),
                items: start.items,
                paymentToken: start.paymentToken,
                shipping: start.shipping,
                now: Date()
            )
            let (stored, created) = try await store.insertOrFetch(saga)
            // A new saga is driven here at once; an existing one by the replica holding its lease (a repeated
            // start must not make a second driver).
            if created { runner.submit(stored.id, saga: stored) }
            var current = stored
            if !stored.status.isFinished && wait > .zero {
                if let finished = await runner.waitUntilFinished(stored.id, timeout: wait) {
                    current = finished
                } else {
                    current = try await store.load(stored.id) ?? stored
                }
            }
            return try Response.json(current.view, status: current.status.isFinished ? .ok : .accepted)
        }
        router.get("/v1/checkouts/{id}") { request in
            guard let saga = try await store.load(request.parameters["id"] ?? "") else {
                throw HTTPError.notFound("No checkout with this id.")
            }
            return try Response.json(saga.view)
        }
        router.get("/v1/sagas") { request in
            let status = request.query["status"]
            if let status, SagaStatus(rawValue: status) == nil {
                throw HTTPError.validation("status must be one of RUNNING, COMPENSATING, COMPLETED, COMPENSATED, FAILED.")
            }
            let limit = min(max(Int(request.query["limit"] ?? "50") ?? 50, 1), 200)
            let page = try await store.list(status: status, after: request.query["after"], limit: limit)
            return try Response.json(Page(items: page.items.map(\.view), next: page.next))
        }
        router.post("/v1/sagas/{id}/retry") { request in
            guard var saga = try await store.load(request.parameters["id"] ?? "") else { throw HTTPError.notFound("No saga with this id.") }
            guard saga.retryFailed(now: Date()) != nil else {
                throw HTTPError(.conflict, code: "not_failed", detail: "Only a FAILED saga can be retried.")
            }
            try await store.saveTakingLease(saga)
            runner.submit(saga.id)
            return try Response.json(saga.view, status: .accepted)
        }
    }
}
