import Contracts
import Foundation
import HTTP
import SagaCore
import ServiceKit
import Storage

/// The saga service's HTTP API: start a checkout, read it, list and retry sagas.
struct SagaRoutes {
    let store: SagaStore
    let runner: SagaRunner
    /// The saga list's reads: on the standby when there is one and it may serve them.
    let reads: ConsistentReads

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
                // Stamped with the customer's bucket: the order service finds the order's shard from the id alone.
                orderId: OrderBuckets.orderId(UUIDv7.generate().uuidString, customerId: start.customerId),
                paymentId: UUIDv7.generate().uuidString.lowercased(),
                shipmentId: UUIDv7.generate().uuidString.lowercased(),
                items: start.items,
                paymentToken: start.paymentToken,
                shipping: start.shipping,
                now: Date()
            )
            return try await startAndWait(.checkout(saga), wait: wait)
        }
        router.get("/v1/checkouts/{id}") { request in
            guard let saga = try await store.load(request.parameters["id"] ?? ""), case .checkout = saga else {
                throw HTTPError.notFound("No checkout with this id.")
            }
            return try Response.json(saga.view)
        }
        router.post("/v1/cancellations") { request in
            let start = try request.decode(SagaAPI.StartCancellation.self)
            var check = Validation()
            check.text(start.orderId, "orderId", max: 100)
            if let reason = start.reason { check.text(reason, "reason", max: 200) }
            try check.validate()
            let wait = Duration.milliseconds(min(max(Int64(request.query["waitMs"] ?? "0") ?? 0, 0), 30_000))
            if let existing = try await store.load(CancellationSaga.id(forOrder: start.orderId)) {
                return try await startAndWait(existing, wait: wait)
            }
            guard case .checkout(let checkout) = try await store.find(orderId: start.orderId, kind: "checkout") else {
                throw HTTPError.notFound("No order with this id.")
            }
            guard checkout.status == .completed else {
                throw HTTPError(
                    .conflict,
                    code: "invalid_state",
                    detail: "Only an approved order can be cancelled; its checkout is \(checkout.status.rawValue)."
                )
            }
            let cancellation = CancellationSaga(
                customerId: checkout.customerId,
                orderId: checkout.orderId,
                checkoutId: checkout.id,
                paymentId: checkout.paymentId,
                shipmentId: checkout.shipmentId,
                reason: start.reason ?? "cancelled by the customer",
                now: Date()
            )
            return try await startAndWait(.cancellation(cancellation), wait: wait)
        }
        router.get("/v1/sagas/{id}") { request in
            guard let saga = try await store.load(request.parameters["id"] ?? "") else { throw HTTPError.notFound("No saga with this id.") }
            return try Response.json(saga.view)
        }
        router.get("/v1/sagas") { request in
            let status = request.query["status"]
            if let status, SagaStatus(rawValue: status) == nil {
                throw HTTPError.validation("status must be one of RUNNING, COMPENSATING, COMPLETED, COMPENSATED, FAILED.")
            }
            let limit = min(max(Int(request.query["limit"] ?? "50") ?? 50, 1), 200)
            let page = try await store.list(status: status, after: request.query["after"], limit: limit, reads: reads, request: request)
            return try Response.json(Page(items: page.items.map(\.view), next: page.next))
        }
        router.post("/v1/sagas/{id}/retry") { request in
            guard var saga = try await store.load(request.parameters["id"] ?? "") else { throw HTTPError.notFound("No saga with this id.") }
            guard saga.retryFailed(now: Date()) else {
                throw HTTPError(.conflict, code: "not_failed", detail: "Only a FAILED saga can be retried.")
            }
            try await store.saveTakingLease(saga, audit: "saga.retry")
            runner.submit(saga.id)
            return try Response.json(saga.view, status: .accepted)
        }
    }

    /// Stores the saga unless one with its id exists (a repeated start), drives a new one here, and answers
    /// with its state after at most `wait`: 200 when finished, 202 while it runs.
    private func startAndWait(_ saga: StoredSaga, wait: Duration) async throws -> Response {
        let stored: StoredSaga
        let created: Bool
        do {
            (stored, created) = try await store.insertOrFetch(saga)
        } catch let error as DatabaseError where error.code == .uniqueViolation {
            // Started twice at the same moment (PostgreSQL): the other start inserted it.
            guard let existing = try await store.load(saga.id) else { throw error }
            (stored, created) = (existing, false)
        }
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
}
