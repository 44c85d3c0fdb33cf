import Contracts
import FoundationEssentials
import HTTP
import ServiceKit

/// Brings the services back to one consistent state after they disagree (after a restore, each service
/// comes back to its own moment): finished sagas re-drive their commands with their own idempotency keys
/// so every participant agrees with the saga log, and effects that no saga owns are compensated. Every
/// repair is a command with an idempotency key of its own, so running the reconciliation twice repairs once.
public struct Reconciler: Sendable {
    /// One repair: what was wrong, what was sent, and how it went.
    public struct Repair: Codable, Sendable, Equatable {
        public var violation: Violation.Kind
        public var ids: [String: String]
        public var action: String
        public var outcome: String
    }

    /// A checkout the gateway had answered 201 before a restore.
    public struct Acknowledged: Codable, Sendable, Equatable {
        public var checkoutId: String
        public var orderId: String
        public var requestedAt: String

        public init(checkoutId: String, orderId: String, requestedAt: String) {
            self.checkoutId = checkoutId
            self.orderId = orderId
            self.requestedAt = requestedAt
        }
    }

    /// What a reconciliation did: the report it started from, the repairs, the report after them, and the
    /// acknowledged checkouts that did not survive (the data the restore lost: its recovery point).
    public struct Outcome: Codable, Sendable {
        public var before: ConsistencyReport
        public var repairs: [Repair]
        public var after: ConsistencyReport
        public var lost: [Acknowledged]
    }

    let auditor: Auditor

    public init(auditor: Auditor) { self.auditor = auditor }

    /// Repairs, audits again, and checks the checkouts acknowledged before a restore.
    public func run(acknowledged: [Acknowledged] = [], log: @Sendable (Repair) -> Void = { _ in }) async throws -> Outcome {
        let first = try await auditor.audit()
        let before = first.report
        var repairs: [Repair] = []
        var redriven = Set<String>()
        // Sagas first: a saga's re-drive may be all a disagreeing participant needs.
        // A completed checkout whose order was cancelled after the saga log's backup: the cancellation saga the
        // log lost is started again (its steps find their effects done and change nothing).
        let cancelled = Set(
            before.violations.filter {
                $0.kind == .participantDisagrees && Set($0.ids.keys) == ["saga", "order"] && $0.observed == "CANCELLED"
            }
            .compactMap { $0.ids["saga"] }
        )
        for violation in before.violations
        where [.participantDisagrees, .moneyNotConserved, .captureWithoutApproval].contains(violation.kind) {
            guard let sagaId = violation.ids["saga"], redriven.insert(sagaId).inserted else { continue }
            let repair: Repair
            if cancelled.contains(sagaId), let orderId = violation.ids["order"] {
                let body = Array(#"{"orderId":"\#(orderId)","reason":"\#(Self.reason): the order was cancelled"}"#.utf8)
                repair = await send(
                    "saga",
                    "/v1/cancellations?waitMs=10000",
                    body: body,
                    key: "reconcile:cancel:\(orderId)",
                    for: violation
                )
            } else {
                repair = await redrive(sagaId, violation)
            }
            log(repair)
            repairs.append(repair)
        }
        for violation in before.violations {
            guard let (service, path, body) = compensation(for: violation) else { continue }
            let repair = await send(service, path, body: body, key: "reconcile:\(violation.kind.rawValue):\(path)", for: violation)
            log(repair)
            repairs.append(repair)
        }
        let after = repairs.isEmpty ? first : try await auditor.audit()
        return Outcome(before: before, repairs: repairs, after: after.report, lost: lost(acknowledged, orders: after.snapshot.orders))
    }

    /// The acknowledged checkouts whose order is not approved (or cancelled by its customer) now: the order
    /// is gone, or was rejected or cancelled by a reconciliation.
    func lost(_ acknowledged: [Acknowledged], orders: [ReconciliationAPI.Order]) -> [Acknowledged] {
        let byId = Dictionary(orders.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return acknowledged.filter { checkout in
            guard let order = byId[checkout.orderId] else { return true }
            let kept =
                ConsistencyRules.approved.contains(order.status)
                || (order.status == "CANCELLED" && !(order.reason ?? "").hasPrefix(Self.reason))
            return !kept
        }
    }

    /// The reason a reconciliation gives the orders it rejects or cancels.
    static let reason = "reconciliation"

    /// The command that undoes an orphaned effect, or nil when there is none to send.
    func compensation(for violation: Violation) -> (String, String, [UInt8])? {
        func id(_ key: String) -> String { pathSegment(violation.ids[key] ?? "") }
        switch violation.kind {
        case .orphanReservation:
            let undo = violation.observed == "COMMITTED" ? "restock" : "release"
            return ("inventory", "/v1/reservations/\(id("reservation"))/\(undo)", [])
        case .orphanAuthorization:
            return ("payment", "/v1/payments/\(id("payment"))/void", [])
        case .orphanCapture:
            return ("payment", "/v1/payments/\(id("payment"))/refund", [])
        case .orphanShipment where violation.observed == "SCHEDULED":
            return ("shipping", "/v1/shipments/\(id("shipment"))/cancel", [])
        case .orphanOrder where violation.observed == "PENDING":
            return ("order", "/v1/orders/\(id("order"))/reject", Array(#"{"reason":"reconciliation: no saga owns this order"}"#.utf8))
        case .orphanOrder where violation.observed == "APPROVED":
            return ("order", "/v1/orders/\(id("order"))/cancel", Array(#"{"reason":"reconciliation: no saga owns this order"}"#.utf8))
        default:
            return nil
        }
    }

    private func redrive(_ sagaId: String, _ violation: Violation) async -> Repair {
        await send("saga", "/v1/sagas/\(pathSegment(sagaId))/redrive", body: [], key: "reconcile:redrive:\(sagaId)", for: violation) {
            response in
            guard let redrive = try? response.decode(ReconciliationAPI.Redrive.self) else { return nil }
            return redrive.commands.map { "\($0.step) \($0.outcome)" }.joined(separator: ", ")
        }
    }

    private func send(
        _ service: String,
        _ path: String,
        body: [UInt8],
        key: String,
        for violation: Violation,
        describe: (Response) -> String? = { _ in nil }
    ) async -> Repair {
        let action = "POST \(service) \(path)"
        var headers = auditor.authenticator.authorization(for: service)
        headers.add(name: "Idempotency-Key", value: key)
        if !body.isEmpty { headers.add(name: "Content-Type", value: "application/json") }
        let outcome: String
        do {
            let response = try await auditor.client.execute(
                ClientRequest(method: "POST", url: (auditor.urls[service] ?? "") + path, headers: headers, body: body)
            )
            outcome = "\(response.status.code)" + (describe(response).map { ": \($0)" } ?? "")
        } catch {
            outcome = "failed: \(error)"
        }
        return Repair(violation: violation.kind, ids: violation.ids, action: action, outcome: outcome)
    }
}
