import Contracts
import Foundation
import HTTP
import SagaCore
import ServiceKit

/// Sends saga commands to the participants over HTTP and turns their answers into `SagaReply`s:
/// 2xx applied; 402, 409 and 422 are business refusals; anything else, or no answer, a technical failure.
struct Participants: Sendable {
    let runtime: ServiceRuntime
    let orderURL: String
    let inventoryURL: String
    let paymentURL: String
    let shippingURL: String
    let callTimeout: Duration

    func send(_ command: SagaCommand<CheckoutStep>, for saga: CheckoutSaga) async -> SagaReply {
        await send(
            command.idempotencyKey,
            step: command.compensation ? (command.step.compensationName ?? command.step.name) : command.step.name
        ) {
            let (audience, request) = try makeRequest(command, saga)
            return (audience, request, command.step == .createOrder && !command.compensation)
        }
    }

    func send(_ command: SagaCommand<CancellationStep>, for saga: CancellationSaga) async -> SagaReply {
        await send(command.idempotencyKey, step: command.step.name) {
            let (audience, request) = try makeRequest(command, saga)
            return (audience, request, false)
        }
    }

    /// Sends one command with its idempotency key and service token. `build` names the audience, the
    /// request, and whether the answer is a priced order (whose total the checkout saga keeps).
    private func send(_ key: String, step: String, _ build: () throws -> (String, ClientRequest, Bool)) async -> SagaReply {
        do {
            let (audience, request, pricedOrder) = try build()
            var call = request
            call.headers.add(name: "Idempotency-Key", value: key)
            for field in runtime.authenticator.authorization(for: audience).fields {
                call.headers.replaceOrAdd(name: field.name, value: field.value)
            }
            call.timeout = callTimeout
            let response = try await runtime.client.execute(call)
            switch response.status.code {
            case 200..<300:
                if pricedOrder {
                    let order = try response.decode(OrderAPI.Order.self)
                    return .success(totalCents: order.totalCents, currency: order.currency)
                }
                return .success()
            case 402, 409, 422:
                let problem = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
                return .refused(code: problem?["code"] as? String ?? "refused", detail: problem?["detail"] as? String ?? "")
            default:
                return .failure("\(audience) answered \(response.status.code)")
            }
        } catch {
            return .failure("\(step): \(error)")
        }
    }

    private func makeRequest(_ command: SagaCommand<CancellationStep>, _ saga: CancellationSaga) throws -> (String, ClientRequest) {
        switch command.step {
        case .cancelShipment:
            return ("shipping", ClientRequest(method: "POST", url: "\(shippingURL)/v1/shipments/\(saga.shipmentId)/cancel"))
        case .refundPayment:
            return ("payment", ClientRequest(method: "POST", url: "\(paymentURL)/v1/payments/\(saga.paymentId)/refund"))
        case .restockInventory:
            return ("inventory", ClientRequest(method: "POST", url: "\(inventoryURL)/v1/reservations/\(saga.checkoutId)/restock"))
        case .cancelOrder:
            return ("order", try .json("POST", "\(orderURL)/v1/orders/\(saga.orderId)/cancel", OrderAPI.Cancel(reason: saga.reason)))
        }
    }

    private func makeRequest(_ command: SagaCommand<CheckoutStep>, _ saga: CheckoutSaga) throws -> (String, ClientRequest) {
        switch (command.step, command.compensation) {
        case (.createOrder, false):
            let body = OrderAPI.Create(orderId: saga.orderId, customerId: saga.customerId, checkoutId: saga.id, items: saga.items)
            return ("order", try .json("POST", "\(orderURL)/v1/orders", body))
        case (.createOrder, true):
            return (
                "order",
                try .json("POST", "\(orderURL)/v1/orders/\(saga.orderId)/reject", OrderAPI.Reject(reason: saga.failureCode ?? "cancelled"))
            )
        case (.reserveStock, false):
            return (
                "inventory",
                try .json("POST", "\(inventoryURL)/v1/reservations", InventoryAPI.Reserve(reservationId: saga.id, items: saga.items))
            )
        case (.reserveStock, true):
            return ("inventory", ClientRequest(method: "POST", url: "\(inventoryURL)/v1/reservations/\(saga.id)/release"))
        case (.authorizePayment, false):
            let body = PaymentAPI.Authorize(
                paymentId: saga.paymentId,
                orderId: saga.orderId,
                token: saga.paymentToken,
                amountCents: saga.totalCents ?? 0,
                currency: saga.currency ?? "EUR"
            )
            return ("payment", try .json("POST", "\(paymentURL)/v1/payments/authorize", body))
        case (.authorizePayment, true):
            return ("payment", ClientRequest(method: "POST", url: "\(paymentURL)/v1/payments/\(saga.paymentId)/void"))
        case (.scheduleShipment, false):
            let body = ShippingAPI.Schedule(shipmentId: saga.shipmentId, orderId: saga.orderId, address: saga.shipping)
            return ("shipping", try .json("POST", "\(shippingURL)/v1/shipments", body))
        case (.scheduleShipment, true):
            return ("shipping", ClientRequest(method: "POST", url: "\(shippingURL)/v1/shipments/\(saga.shipmentId)/cancel"))
        case (.capturePayment, _):
            return ("payment", ClientRequest(method: "POST", url: "\(paymentURL)/v1/payments/\(saga.paymentId)/capture"))
        case (.commitReservation, _):
            return ("inventory", ClientRequest(method: "POST", url: "\(inventoryURL)/v1/reservations/\(saga.id)/commit"))
        case (.approveOrder, _):
            let body = OrderAPI.Approve(paymentId: saga.paymentId, shipmentId: saga.shipmentId)
            return ("order", try .json("POST", "\(orderURL)/v1/orders/\(saga.orderId)/approve", body))
        }
    }
}
