import Contracts
import FoundationEssentials
import HTTP
import Platform
import ServiceKit
import Storage

/// The public API (`/v1`), the only one users reach.
struct GatewayRoutes {
    let backends: Backends
    let tokens: ConsistencyTokens
    let catalog: CatalogCache
    let checkouts: CheckoutStore
    let checkoutWait: Duration
    /// Checkouts in progress at once (`CHECKOUT_MAX_IN_FLIGHT`); more are refused 503 at once.
    let admission: Admission
    let keyring: Keyring

    func mount(on router: inout Router) {
        router.get("/v1/products") { request in
            _ = try Access.principal()
            let path = CatalogCache.listKey(query: request.query)
            return try await catalog.respond(key: path, ifNoneMatch: request.headers["If-None-Match"]) {
                try passThrough(try await backends.call("inventory", "GET", path))
            }
        }
        router.get("/v1/products/{sku}") { request in
            _ = try Access.principal()
            let path = "/v1/products/\(pathSegment(request.parameters["sku"] ?? ""))"
            return try await catalog.respond(key: path, ifNoneMatch: request.headers["If-None-Match"]) {
                try passThrough(try await backends.call("inventory", "GET", path))
            }
        }
        router.post("/v1/products") { request in
            try Access.requireAdmin()
            let response = try passThrough(try await backends.call("inventory", "POST", "/v1/products", body: request.body))
            // The admin sees their own write at once; everyone else within the feed's delay.
            if let sku = try? response.decode(InventoryAPI.Product.self).sku { catalog.invalidate(sku: sku) }
            return await tokens.stamp(response, from: "inventory")
        }
        router.put("/v1/products/{sku}/stock") { request in
            try Access.requireAdmin()
            let sku = request.parameters["sku"] ?? ""
            let response = try passThrough(
                try await backends.call("inventory", "PUT", "/v1/products/\(pathSegment(sku))/stock", body: request.body)
            )
            catalog.invalidate(sku: sku)
            return await tokens.stamp(response, from: "inventory")
        }
        router.post("/v1/checkout") { request in
            await tokens.stamp(try await admission.admit { try await checkout(request) })
        }
        router.get("/v1/checkouts/{id}") { request in
            let saga = try await visibleSaga(request.parameters["id"] ?? "")
            return try Response.json(
                GatewayAPI.CheckoutView(
                    id: saga.id,
                    orderId: saga.orderId,
                    status: saga.status,
                    failureCode: saga.failureCode,
                    steps: saga.steps
                )
            )
        }
        router.get("/v1/orders") { request in
            let principal = try Access.principal()
            var parameters = request.query
            if !principal.isAdmin { parameters["customerId"] = principal.customerId }
            let query = parameters.sorted { $0.key < $1.key }.map { "\(queryValue($0.key))=\(queryValue($0.value))" }.joined(separator: "&")
            return try passThrough(try await backends.call("order", "GET", "/v1/orders" + (query.isEmpty ? "" : "?" + query)))
        }
        router.get("/v1/orders/{id}") { request in try await orderView(try await visibleOrder(request.parameters["id"] ?? "")) }
        router.post("/v1/orders/{id}/cancel") { request in await tokens.stamp(try await cancel(request)) }
        for event in ["dispatch", "deliver"] {
            router.post("/v1/shipments/{id}/\(event)") { request in
                try Access.requireAdmin()
                let id = pathSegment(request.parameters["id"] ?? "")
                // The carrier event is idempotent by state (dispatching twice is one dispatch); a key is only
                // shared when the caller sends one, so a refused early attempt is not replayed later.
                let key = "\(event):\(id):" + (request.headers["Idempotency-Key"] ?? UUIDv7.string())
                return try passThrough(
                    try await backends.call(
                        "shipping",
                        "POST",
                        "/v1/shipments/\(id)/\(event)",
                        headers: HTTPHeaders([("Idempotency-Key", key)])
                    )
                )
            }
        }
        router.get("/v1/sagas") { request in
            try Access.requireAdmin()
            return try passThrough(try await backends.call("saga", "GET", "/v1/sagas" + query(request)))
        }
        router.get("/v1/sagas/counts") { _ in
            try Access.requireAdmin()
            return try passThrough(try await backends.call("saga", "GET", "/v1/sagas/counts"))
        }
        router.get("/v1/sagas/{id}") { request in
            try Access.requireAdmin()
            return try passThrough(try await backends.call("saga", "GET", "/v1/sagas/\(pathSegment(request.parameters["id"] ?? ""))"))
        }
        // An operator's actions on a saga: retry a FAILED one, resume a stuck one, compensate a running one
        // before its pivot. Each needs a reason ({"reason": "..."}) and an Idempotency-Key; the saga service
        // notes both with the operator's name on the timeline and the audit trail.
        for action in ["retry", "resume", "compensate"] {
            router.post("/v1/sagas/{id}/\(action)") { request in
                try Access.requireAdmin()
                let key = try Idempotency.key(of: request)
                return try passThrough(
                    try await backends.call(
                        "saga",
                        "POST",
                        "/v1/sagas/\(pathSegment(request.parameters["id"] ?? ""))/\(action)",
                        body: request.body,
                        headers: HTTPHeaders([("Idempotency-Key", key)])
                    )
                )
            }
        }
        // Fault injection for operators (`FAULT_INJECTION=on` in the service): the gateway's own, or any
        // service's (`?service=`), forwarded with the gateway's token.
        router.get("/v1/admin/faults") { request in try await faults(request) }
        router.post("/v1/admin/faults") { request in try await faults(request) }
        // Each service's audit trail for operators: who changed what, when (`service` defaults to the gateway's own).
        router.get("/v1/admin/audit") { request in
            try Access.requireAdmin()
            var parameters = request.query
            let service = parameters.removeValue(forKey: "service") ?? "gateway"
            let query = parameters.filter { ["after", "limit", "target", "actor"].contains($0.key) }.sorted { $0.key < $1.key }
                .map { "\(queryValue($0.key))=\(queryValue($0.value))" }.joined(separator: "&")
            if service == "gateway" {
                return try Response.json(
                    try await AuditLogRoute.page(Request(method: "GET", target: "/v1/audit-log?" + query), database: checkouts.database)
                )
            }
            guard backends.urls[service] != nil else { throw HTTPError.notFound("No service by this name.") }
            return try passThrough(try await backends.call(service, "GET", "/v1/audit-log?" + query))
        }
        // The services' feed consumers (behind service tokens) for operators with the admin key.
        router.get("/v1/admin/services/{service}/consumers") { request in
            try Access.requireAdmin()
            guard Self.servicesWithConsumers.contains(request.parameters["service"] ?? "") else {
                throw HTTPError.notFound("No service with feed consumers by this name.")
            }
            return try passThrough(try await backends.call(request.parameters["service"] ?? "", "GET", "/v1/admin/consumers"))
        }
        for (method, suffix) in [("GET", ""), ("GET", "/dead-letters"), ("POST", "/dead-letters/{id}/redrive"), ("POST", "/rewind")] {
            router.on(method, "/v1/admin/services/{service}/consumers/{name}" + suffix) { request in
                try Access.requireAdmin()
                let service = request.parameters["service"] ?? ""
                guard Self.servicesWithConsumers.contains(service) else {
                    throw HTTPError.notFound("No service with feed consumers by this name.")
                }
                let path =
                    "/v1/admin/consumers/\(pathSegment(request.parameters["name"] ?? ""))"
                    + suffix.replacing("{id}", with: pathSegment(request.parameters["id"] ?? ""))
                return try passThrough(try await backends.call(service, method, path, body: request.body))
            }
        }
    }

    /// Services that follow other services' feeds (the gateway's own consumer is at `/v1/admin/consumers`).
    static let servicesWithConsumers: Set<String> = ["order"]

    private func faults(_ request: Request) async throws -> Response {
        try Access.requireAdmin()
        let service = request.query["service"] ?? "gateway"
        guard service != "gateway" else { return try await FaultInjection.handle(request) }
        guard backends.urls[service] != nil else {
            throw HTTPError.validation("service must be one of gateway, \(backends.urls.keys.sorted().joined(separator: ", ")).")
        }
        return try passThrough(try await backends.call(service, request.method, "/v1/admin/faults", body: request.body))
    }

    // MARK: Checkout

    private func checkout(_ request: Request) async throws -> Response {
        let customer = try Access.requireCustomer()
        guard let key = request.headers["Idempotency-Key"], !key.isEmpty, key.count <= 200 else {
            throw HTTPError.badRequest("POST /v1/checkout requires an Idempotency-Key header.", code: "missing_idempotency_key")
        }
        let body = try request.decode(CheckoutRequest.self)
        try body.validate()
        let fingerprint = body.fingerprint(keyring)
        let async = request.headers.tokens("Prefer").contains("respond-async")

        if let existing = try await checkouts.find(customer: customer, key: key) {
            return try await replay(existing, fingerprint: fingerprint, customer: customer, key: key, async: async)
        }
        // The card becomes a token at payment before anything else: the saga never holds card data.
        let tokenized = try await backends.call("payment", "POST", "/v1/payment-methods", body: try JSON.encode(body.payment))
        guard tokenized.status.code == 201 else { return try passThrough(tokenized) }
        let method = try tokenized.decode(PaymentAPI.PaymentMethod.self)

        let checkoutId = UUIDv7.string()
        let start = SagaAPI.StartCheckout(
            checkoutId: checkoutId,
            customerId: customer,
            items: body.items,
            paymentToken: method.token,
            shipping: body.shipping
        )
        let startCommand = String(decoding: try JSON.encode(start), as: UTF8.self)
        if let raced = try await checkouts.claim(
            customer: customer,
            key: key,
            fingerprint: fingerprint,
            checkoutId: checkoutId,
            startCommand: startCommand
        ) {
            return try await replay(raced, fingerprint: fingerprint, customer: customer, key: key, async: async)
        }
        return try await startSaga(startCommand, customer: customer, key: key, async: async)
    }

    /// Starts the checkout saga (idempotent by checkout id at the saga service) and answers from its state.
    private func startSaga(_ startCommand: String, customer: String, key: String, async: Bool) async throws -> Response {
        let wait = async ? 0 : checkoutWait.wholeMilliseconds()
        let started = try await backends.call(
            "saga",
            "POST",
            "/v1/checkouts?waitMs=\(wait)&view=summary",
            body: Array(startCommand.utf8),
            timeout: checkoutWait + .seconds(5)
        )
        guard (200..<300).contains(started.status.code) else { return try passThrough(started) }
        return try await answer(try started.decode(SagaAPI.Checkout.self), customer: customer, key: key)
    }

    /// A repeated key: the same body gets the first answer (or the checkout's state now); another body 422.
    private func replay(
        _ record: CheckoutStore.Record,
        fingerprint: String,
        customer: String,
        key: String,
        async: Bool
    ) async throws -> Response {
        guard record.fingerprint == fingerprint || record.fingerprint.isEmpty else {
            throw HTTPError(
                .unprocessableContent,
                code: "idempotency_key_reused",
                detail: "This Idempotency-Key was used with another request body."
            )
        }
        if let answer = record.answer { return answer }
        if let startCommand = record.startCommand {
            // Starting again is safe: the saga service returns the saga this checkout id started, or starts
            // it now if the first attempt never reached it.
            return try await startSaga(startCommand, customer: customer, key: key, async: async)
        }
        let saga = try await backends.fetch(SagaAPI.Checkout.self, "saga", "/v1/checkouts/\(pathSegment(record.checkoutId))")
        return try await answer(saga, customer: customer, key: key)
    }

    private func answer(_ saga: SagaAPI.Checkout, customer: String, key: String) async throws -> Response {
        let response = try CheckoutAnswer.response(for: saga)
        if response.status.code != 202 { try await checkouts.finish(customer: customer, key: key, answer: response) }
        return response
    }

    // MARK: Cancellation

    /// Runs the cancellation saga for an approved order and answers with the cancelled order (200), a refusal
    /// (409 `already_dispatched`, 409 `invalid_state`), or 202 while the saga still runs after the wait.
    /// Asking again is safe: an order has one cancellation, and a cancelled order is answered as it is.
    private func cancel(_ request: Request) async throws -> Response {
        let id = request.parameters["id"] ?? ""
        let order = try await visibleOrder(id)
        switch order.status {
        case .cancelled: return try await orderView(order)
        case .shipped, .delivered:
            throw HTTPError(.conflict, code: "already_dispatched", detail: "The order has shipped; it can no longer be cancelled.")
        case .approved: break
        case .pending, .rejected:
            throw HTTPError(
                .conflict,
                code: "invalid_state",
                detail: "Only an approved order can be cancelled; this one is \(order.status.rawValue)."
            )
        }
        let async = request.headers.tokens("Prefer").contains("respond-async")
        let wait = async ? 0 : checkoutWait.wholeMilliseconds()
        let actor = try Access.principal().isAdmin ? "an operator" : "the customer"
        let started = try await backends.call(
            "saga",
            "POST",
            "/v1/cancellations?waitMs=\(wait)",
            body: try JSON.encode(SagaAPI.StartCancellation(orderId: order.id, reason: "cancelled by \(actor)")),
            timeout: checkoutWait + .seconds(5)
        )
        guard (200..<300).contains(started.status.code) else { return try passThrough(started) }
        let saga = try started.decode(SagaAPI.Checkout.self)
        switch saga.status {
        case .completed:
            return try await orderView(try await visibleOrder(id))
        case .compensated where saga.failureCode == .alreadyDispatched:
            throw HTTPError(.conflict, code: "already_dispatched", detail: "The order has shipped; it can no longer be cancelled.")
        case .compensated:
            throw HTTPError(
                .conflict,
                code: saga.failureCode?.rawValue ?? "refused",
                detail: saga.failureDetail ?? "The cancellation was refused."
            )
        case .failed:
            throw HTTPError(
                .serviceUnavailable,
                code: "cancellation_stalled",
                detail: "The cancellation stopped at \(saga.steps.last?.name ?? "a step") and needs an operator.",
                extra: ["cancellationId": saga.id]
            )
        case .running, .compensating:
            var headers = HTTPHeaders([("Location", "/v1/orders/\(pathSegment(id))")])
            headers.add(name: "Retry-After", value: "1")
            return try Response.json(
                GatewayAPI.CancellationAccepted(orderId: id, cancellationId: saga.id, status: saga.status),
                status: .accepted,
                headers: headers
            )
        }
    }

    // MARK: Views

    /// The order from the order service's view, or 404 when it does not exist or is not the caller's.
    private func visibleOrder(_ id: String) async throws -> OrderAPI.Order {
        try await visible(
            OrderAPI.Order.self,
            "order",
            "/v1/orders/\(pathSegment(id))",
            owner: \.customerId,
            missing: "No order with this id."
        )
    }

    private func visibleSaga(_ id: String) async throws -> SagaAPI.Checkout {
        try await visible(
            SagaAPI.Checkout.self,
            "saga",
            "/v1/checkouts/\(pathSegment(id))",
            owner: \.customerId,
            missing: "No checkout with this id."
        )
    }

    /// A resource of a backend that the caller may see: 404 `missing` when the backend has none or it is
    /// another customer's (the two look alike, so ids of others' orders leak nothing).
    private func visible<T: Decodable>(
        _ type: T.Type,
        _ service: String,
        _ path: String,
        owner: KeyPath<T, String>,
        missing: String
    ) async throws -> T {
        let value: T
        do {
            value = try await backends.fetch(type, service, path)
        } catch is Backends.PassThrough {
            throw HTTPError.notFound(missing)
        }
        guard try Access.canSee(value[keyPath: owner]) else { throw HTTPError.notFound(missing) }
        return value
    }

    /// Order, payment, shipment and saga in one document; the three after the order are fetched in parallel.
    private func orderView(_ order: OrderAPI.Order) async throws -> Response {
        async let sagaFetch = try? backends.fetch(SagaAPI.Checkout.self, "saga", "/v1/checkouts/\(pathSegment(order.checkoutId))")
        async let paymentsFetch = try? backends.fetch(
            Page<PaymentAPI.Payment>.self,
            "payment",
            "/v1/payments?orderId=\(queryValue(order.id))"
        )
        let saga = await sagaFetch
        let payments = await paymentsFetch
        var shipment: ShippingAPI.Shipment?
        if let saga {
            shipment = try? await backends.fetch(ShippingAPI.Shipment.self, "shipping", "/v1/shipments/\(pathSegment(saga.shipmentId))")
        }
        let payment = payments?.items.first
        return try Response.json(
            GatewayAPI.OrderView(
                id: order.id,
                customerId: order.customerId,
                status: order.status,
                reason: order.reason,
                items: order.items,
                totalCents: order.totalCents,
                currency: order.currency,
                // Live from payment and shipping; what the order service learnt from their feeds if they are down.
                payment: payment.map { GatewayAPI.Ref(id: $0.id, status: $0.status) }
                    ?? order.payment.map { GatewayAPI.Ref(id: $0.id, status: PaymentStatus(rawValue: $0.status)) },
                shipment: shipment.map { GatewayAPI.Ref(id: $0.id, status: $0.status) }
                    ?? order.shipment.map { GatewayAPI.Ref(id: $0.id, status: ShipmentStatus(rawValue: $0.status)) },
                checkout: GatewayAPI.Ref(id: order.checkoutId, status: saga?.status),
                createdAt: order.createdAt
            )
        )
    }

    // MARK: Helpers

    private func passThrough(_ response: Response) throws -> Response {
        var headers = HTTPHeaders()
        // What a client acts on: the body's type, when to come back, and whether this is a replayed answer.
        for name in ["Content-Type", "Retry-After", "Idempotent-Replay"] {
            if let value = response.headers[name] { headers.add(name: name, value: value) }
        }
        return Response(status: response.status, headers: headers, body: response.body)
    }

    private func query(_ request: Request) -> String {
        guard let index = request.head.target.firstIndex(of: "?") else { return "" }
        return String(request.head.target[index...])
    }
}
