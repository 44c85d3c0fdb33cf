import Contracts
import FoundationEssentials
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
    /// The definition new checkouts start on (`CHECKOUT_SAGA_VERSION`).
    let checkoutDefinition: SagaDefinition
    /// Sagas this process drives at once before new checkouts are refused 503 (`SAGA_MAX_ACTIVE`).
    var maxActive = 512

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
            let view = request.query["view"] ?? "full"
            guard view == "full" || view == "summary" else { throw HTTPError.validation("view must be full or summary.") }
            // Admission: past its limit the runner takes no new saga (a repeated start of one it has is fine).
            if runner.activeCount >= maxActive, try await store.load(start.checkoutId) == nil { throw Admission.overloaded }
            let saga = CheckoutSaga(
                id: start.checkoutId,
                customerId: start.customerId,
                // Stamped with the customer's bucket: the order service finds the order's shard from the id alone.
                orderId: OrderBuckets.orderId(UUIDv7.string(), customerId: start.customerId),
                paymentId: UUIDv7.string(),
                shipmentId: UUIDv7.string(),
                items: start.items,
                paymentToken: start.paymentToken,
                shipping: start.shipping,
                now: Date(),
                definition: checkoutDefinition
            )
            return try await startAndWait(.checkout(saga), wait: wait, summary: view == "summary")
        }
        router.get("/v1/checkouts/{id}") { request in
            let id = request.parameters["id"] ?? ""
            guard let saga = try await current(id), case .checkout = saga else {
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
        // How many sagas are in each status, for the console's live counts.
        router.get("/v1/sagas/counts") { request in try Response.json(try await store.counts(reads: reads, request: request)) }
        router.get("/v1/sagas/{id}") { request in
            let id = request.parameters["id"] ?? ""
            guard let saga = try await current(id) else { throw HTTPError.notFound("No saga with this id.") }
            return try Response.json(flagged(saga, now: Date()))
        }
        router.get("/v1/sagas") { request in
            let status = request.query["status"]
            if let status, SagaStatus(rawValue: status) == nil {
                throw HTTPError.validation("status must be one of RUNNING, COMPENSATING, COMPLETED, COMPENSATED, FAILED.")
            }
            let limit = min(max(Int(request.query["limit"] ?? "50") ?? 50, 1), 200)
            let order = request.query["order"] ?? "oldest"
            guard order == "oldest" || order == "newest" else { throw HTTPError.validation("order must be oldest or newest.") }
            let page = try await store.list(
                status: status,
                after: request.query["after"],
                limit: limit,
                newest: order == "newest",
                reads: reads,
                request: request
            )
            let now = Date()
            return try Response.json(Page(items: page.items.map { flagged($0, now: now) }, next: page.next))
        }
        // An operator's actions, each with a reason noted on the timeline with the operator's name (and on
        // the audit trail), each idempotent by its Idempotency-Key.
        router.post("/v1/sagas/{id}/retry") { request in
            try await operatorAction(request, "saga.retry") { saga, now, note in
                guard saga.retryFailed(now: now, note: note) else {
                    throw HTTPError(
                        .conflict,
                        code: "not_failed",
                        detail: "Only a FAILED saga can be retried; this one is \(saga.status.rawValue)."
                    )
                }
            }
        }
        router.post("/v1/sagas/{id}/resume") { request in
            try await operatorAction(request, "saga.resume") { saga, now, note in
                guard saga.resume(now: now, note: note) else {
                    throw HTTPError(
                        .conflict,
                        code: "not_in_progress",
                        detail: "Only a RUNNING or COMPENSATING saga can be resumed; this one is \(saga.status.rawValue)."
                    )
                }
            }
        }
        router.post("/v1/sagas/{id}/compensate") { request in
            try await operatorAction(request, "saga.compensate") { saga, now, note in
                guard saga.status == .running else {
                    throw HTTPError(
                        .conflict,
                        code: "not_running",
                        detail: "Only a RUNNING saga can be compensated; this one is \(saga.status.rawValue)."
                    )
                }
                guard saga.forceCompensation(now: now, reason: note ?? "", note: note) else {
                    throw HTTPError(.conflict, code: "past_pivot", detail: "The saga has reached its pivot: it can only go forward.")
                }
            }
        }
    }

    struct OperatorRequest: Codable {
        let reason: String
    }

    /// Takes the saga over from its driver in this process, applies `change` in one transaction with its
    /// audit entry and idempotency record, and drives the saga again.
    private func operatorAction(
        _ request: Request,
        _ action: String,
        _ change: @escaping @Sendable (inout StoredSaga, Date, String?) throws -> Void
    ) async throws -> Response {
        let body = try request.decode(OperatorRequest.self)
        var check = Validation()
        check.text(body.reason, "reason", max: 500)
        try check.validate()
        _ = try Idempotency.key(of: request)
        let id = request.parameters["id"] ?? ""
        let note = "\(AuditContext.current?.actor ?? "operator"): \(body.reason)"
        await runner.takeOver(id)
        // Driven again whatever happened: changed, refused (409), or failed.
        defer { runner.release(id) }
        return try await store.operatorAction(request, action: action, id: id) { saga in try change(&saga, Date(), note) }
    }

    /// The saga's view with `stuck` set: running or compensating, its step begun longer ago than the
    /// runner's `stuckAfter` (a FAILED saga is parked: its status says it).
    /// A saga as it stands: the driver's state when this process drives it ahead of its last save, else the
    /// stored one.
    private func current(_ id: String) async throws -> StoredSaga? {
        if let driven = runner.unsavedState(id) { return driven }
        return try await store.load(id)
    }

    private func flagged(_ saga: StoredSaga, now: Date) -> SagaAPI.Checkout {
        var view = saga.view
        if !saga.status.isFinished {
            view.stuck = now.timeIntervalSince(saga.progress.stepStartedAt) > runner.stuckAfter
        }
        return view
    }

    /// Stores the saga unless one with its id exists (a repeated start), drives a new one here, and answers
    /// with its state after at most `wait`: 200 when finished, 202 while it runs.
    /// `summary`: the saga without its steps (`?view=summary`), all the gateway reads of a checkout's answer
    /// (the steps were most of the bytes the saga wrote and the gateway parsed per checkout).
    private func startAndWait(_ saga: StoredSaga, wait: Duration, summary: Bool = false) async throws -> Response {
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
        // A saga started before and driven here may be ahead of its stored state (see `current`).
        var current = runner.unsavedState(stored.id) ?? stored
        if !stored.status.isFinished && wait > .zero {
            if let finished = await runner.waitUntilFinished(stored.id, timeout: wait) {
                current = finished
            } else {
                current = try await self.current(stored.id) ?? stored
            }
        }
        var view = current.view
        if summary { view.steps = [] }
        return try Response.json(view, status: current.status.isFinished ? .ok : .accepted)
    }
}
