import Contracts
import FoundationEssentials
import HTTP
import SagaCore
import ServiceKit

/// Sends saga commands to the participants over HTTP and turns their answers into `SagaReply`s:
/// 2xx applied; 402, 409 and 422 are business refusals; anything else, or no answer, a technical failure.
/// Each command a definition names (an action or a compensation) is one entry of a table, whatever the
/// definition version or saga kind that sends it.
struct Participants: Sendable {
    let runtime: ServiceRuntime
    let orderURL: String
    let inventoryURL: String
    let paymentURL: String
    let shippingURL: String
    let callTimeout: Duration

    /// A command's destination (the audience of its service token) and request.
    typealias Call = (audience: String, request: ClientRequest)

    func send(_ command: SagaCommand, for saga: StoredSaga) async -> SagaReply {
        switch await Faults.shared.visit("saga.before_send", command.name) {
        case .fail(let status)? where [402, 409, 422].contains(status):
            return .refused(code: "injected_fault", detail: "a fault was injected before \(command.name) was sent")
        case .fail(let status)?: return .failure("\(command.name): injected fault \(status) before sending")
        case .reset?: return .failure("\(command.name): injected reset before sending")
        case nil: break
        }
        do {
            let call: Call
            switch saga {
            case .checkout(let checkout): call = try checkoutCall(command.name, checkout)
            case .cancellation(let cancellation): call = try cancellationCall(command.name, cancellation)
            }
            return try await send(call, key: command.idempotencyKey, reply: command.reply)
        } catch {
            return .failure("\(command.name): \(error)")
        }
    }

    /// Sends one command with its idempotency key and service token.
    private func send(_ call: Call, key: String, reply: ReplyReading) async throws -> SagaReply {
        var request = call.request
        request.headers.add(name: "Idempotency-Key", value: key)
        for field in runtime.authenticator.authorization(for: call.audience).fields {
            request.headers.replaceOrAdd(name: field.name, value: field.value)
        }
        request.timeout = callTimeout
        let response = try await runtime.client.execute(request)
        switch response.status.code {
        case 200..<300:
            if reply == .pricedOrder {
                // The two members it needs of the order's view (the rest is not decoded).
                struct Priced: Decodable {
                    let totalCents: Int64
                    let currency: String
                }
                let order = try response.decode(Priced.self)
                return .success(totalCents: order.totalCents, currency: order.currency)
            }
            return .success()
        case 402, 409, 422:
            let problem = try? response.decode(Problem.self)
            return .refused(code: problem.map { $0.code.isEmpty ? "refused" : $0.code } ?? "refused", detail: problem?.detail ?? "")
        default:
            return .failure("\(call.audience) answered \(response.status.code)")
        }
    }

    struct UnknownCommand: Error, CustomStringConvertible {
        let name: String
        var description: String { "no participant call for command \(name)" }
    }

    private func checkoutCall(_ name: String, _ saga: CheckoutSaga) throws -> Call {
        switch name {
        case "order.create":
            // From version 3 the order is screened in its creation (version 2 has a step of its own for it).
            let screen = saga.definition.version >= 3 ? true : nil
            let body = OrderAPI.Create(
                orderId: saga.orderId,
                customerId: saga.customerId,
                checkoutId: saga.id,
                items: saga.items,
                screen: screen
            )
            return ("order", try .json("POST", "\(orderURL)/v1/orders", body))
        case "order.reject":
            let reason = OrderAPI.Reject(reason: saga.failureCode ?? "cancelled")
            return ("order", try .json("POST", "\(orderURL)/v1/orders/\(saga.orderId)/reject", reason))
        case "order.screen":
            return ("order", ClientRequest(method: "POST", url: "\(orderURL)/v1/orders/\(saga.orderId)/screen"))
        case "inventory.reserve":
            // A definition with no `inventory.hold` before its pivot (versions 1 and 5) reserves the stock held
            // until commit or release; the others reserve it for the reservation's time to live, then hold it.
            let holdsLater = saga.definition.index(of: "inventory.hold") != nil
            let body = InventoryAPI.Reserve(reservationId: saga.id, items: saga.items, holdUntilCommit: holdsLater ? nil : true)
            return ("inventory", try .json("POST", "\(inventoryURL)/v1/reservations", body))
        case "inventory.release":
            return ("inventory", ClientRequest(method: "POST", url: "\(inventoryURL)/v1/reservations/\(saga.id)/release"))
        case "inventory.hold":
            return ("inventory", ClientRequest(method: "POST", url: "\(inventoryURL)/v1/reservations/\(saga.id)/hold"))
        case "inventory.commit":
            return ("inventory", ClientRequest(method: "POST", url: "\(inventoryURL)/v1/reservations/\(saga.id)/commit"))
        case "payment.authorize":
            let body = PaymentAPI.Authorize(
                paymentId: saga.paymentId,
                orderId: saga.orderId,
                token: saga.paymentToken,
                amountCents: saga.totalCents ?? 0,
                currency: saga.currency ?? "EUR"
            )
            return ("payment", try .json("POST", "\(paymentURL)/v1/payments/authorize", body))
        case "payment.void":
            return ("payment", ClientRequest(method: "POST", url: "\(paymentURL)/v1/payments/\(saga.paymentId)/void"))
        case "payment.capture":
            return ("payment", ClientRequest(method: "POST", url: "\(paymentURL)/v1/payments/\(saga.paymentId)/capture"))
        case "shipping.schedule":
            let body = ShippingAPI.Schedule(shipmentId: saga.shipmentId, orderId: saga.orderId, address: saga.shipping)
            return ("shipping", try .json("POST", "\(shippingURL)/v1/shipments", body))
        case "shipping.cancel":
            return ("shipping", ClientRequest(method: "POST", url: "\(shippingURL)/v1/shipments/\(saga.shipmentId)/cancel"))
        case "order.approve":
            let body = OrderAPI.Approve(paymentId: saga.paymentId, shipmentId: saga.shipmentId)
            return ("order", try .json("POST", "\(orderURL)/v1/orders/\(saga.orderId)/approve", body))
        default:
            throw UnknownCommand(name: name)
        }
    }

    private func cancellationCall(_ name: String, _ saga: CancellationSaga) throws -> Call {
        switch name {
        case "shipping.cancel":
            return ("shipping", ClientRequest(method: "POST", url: "\(shippingURL)/v1/shipments/\(saga.shipmentId)/cancel"))
        case "payment.refund":
            return ("payment", ClientRequest(method: "POST", url: "\(paymentURL)/v1/payments/\(saga.paymentId)/refund"))
        case "inventory.restock":
            return ("inventory", ClientRequest(method: "POST", url: "\(inventoryURL)/v1/reservations/\(saga.checkoutId)/restock"))
        case "order.cancel":
            return ("order", try .json("POST", "\(orderURL)/v1/orders/\(saga.orderId)/cancel", OrderAPI.Cancel(reason: saga.reason)))
        default:
            throw UnknownCommand(name: name)
        }
    }
}
