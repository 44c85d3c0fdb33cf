import Contracts
import OrderCore
import Testing

/// The order aggregate alone: commands decided on replayed state, no database.
@Suite("Order aggregate")
struct OrderAggregateTests {
    let lines = [OrderAPI.Line(sku: "A", quantity: 2, unitPriceCents: 500), OrderAPI.Line(sku: "B", quantity: 1, unitPriceCents: 250)]

    func replayed(_ events: [OrderEvent]) -> OrderAggregate {
        OrderAggregate.replay(id: "o1", events.enumerated().map { ($1, "2026-01-01T00:00:0\($0).000000Z") })
    }

    func created() throws -> [OrderEvent] {
        try OrderAggregate(id: "o1").create(customerId: "alice", checkoutId: "c1", lines: lines, currency: "EUR")
    }

    @Test func createPricesTheOrderAndARepeatChangesNothing() throws {
        let events = try created()
        #expect(
            events == [
                .created(OrderEvents.Created(customerId: "alice", checkoutId: "c1", lines: lines, totalCents: 1250, currency: "EUR"))
            ]
        )
        let order = replayed(events)
        #expect(order.status == .pending)
        #expect(order.version == 1)
        #expect(try order.create(customerId: "alice", checkoutId: "c1", lines: lines, currency: "EUR").isEmpty)
    }

    @Test func aRejectionThatCameFirstKeepsTheLateCreateOut() throws {
        let rejected = replayed(try OrderAggregate(id: "o1").reject(reason: "timeout"))
        #expect(rejected.status == .rejected)
        #expect(throws: OrderError.rejected) { try rejected.create(customerId: "alice", checkoutId: "c1", lines: lines, currency: "EUR") }
    }

    @Test func approvalThenShippingProgressGivesShippedAndDelivered() throws {
        var events = try created()
        events += try replayed(events).approve(paymentId: "p1", shipmentId: "s1")
        var order = replayed(events)
        #expect(order.status == .approved)
        #expect(order.payment == OrderAPI.Ref(id: "p1", status: "CAPTURED"))
        #expect(order.shipment == OrderAPI.Ref(id: "s1", status: "SCHEDULED"))
        // Statuses delivered late or twice do not move anything back.
        #expect(order.recordPayment(id: "p1", status: "AUTHORIZED").isEmpty)
        #expect(order.recordShipment(id: "s1", status: "SCHEDULED").isEmpty)
        events += order.recordShipment(id: "s1", status: "DISPATCHED")
        order = replayed(events)
        #expect(order.status == .shipped)
        #expect(throws: OrderError.alreadyShipped) { try order.cancel(reason: "x") }
        events += order.recordShipment(id: "s1", status: "DELIVERED")
        #expect(replayed(events).status == .delivered)
        #expect(replayed(events).version == 4)
    }

    @Test func onlyAnApprovedOrderCanBeCancelledAndOnlyOnce() throws {
        let pending = replayed(try created())
        #expect(throws: OrderError.invalidState("PENDING")) { try pending.cancel(reason: "x") }
        var events = try created()
        events += try replayed(events).approve(paymentId: "p1", shipmentId: "s1")
        events += try replayed(events).cancel(reason: "changed my mind")
        let cancelled = replayed(events)
        #expect(cancelled.status == .cancelled)
        #expect(cancelled.reason == "changed my mind")
        #expect(try cancelled.cancel(reason: "again").isEmpty)
        #expect(throws: OrderError.invalidState("CANCELLED")) { try cancelled.approve(paymentId: nil, shipmentId: nil) }
    }

    @Test func statusesFromFeedsBeforeTheOrderExistsAreIgnored() {
        #expect(OrderAggregate(id: "o1").recordPayment(id: "p1", status: "AUTHORIZED").isEmpty)
        #expect(OrderAggregate(id: "o1").recordShipment(id: "s1", status: "DISPATCHED").isEmpty)
    }

    @Test func aStoredV1CreatedEventIsUpcast() throws {
        let v1 = #"{"customerId":"alice","checkoutId":"c1","items":[{"sku":"A","quantity":3,"priceCents":200}]}"#
        let event = try OrderEvent.decode(type: "order.created", version: 1, data: v1)
        #expect(
            event
                == .created(
                    OrderEvents.Created(
                        customerId: "alice",
                        checkoutId: "c1",
                        lines: [OrderAPI.Line(sku: "A", quantity: 3, unitPriceCents: 200)],
                        totalCents: 600,
                        currency: "EUR"
                    )
                )
        )
        #expect(throws: OrderError.unknownEvent("order.created", 3)) {
            try OrderEvent.decode(type: "order.created", version: 3, data: "{}")
        }
        #expect(throws: OrderError.unknownEvent("order.teleported", 1)) {
            try OrderEvent.decode(type: "order.teleported", version: 1, data: "{}")
        }
    }

    @Test func everyEventRoundTripsThroughItsStoredForm() throws {
        let events: [OrderEvent] =
            try created() + [
                .approved(OrderEvents.Approved(paymentId: "p", shipmentId: nil)), .rejected(OrderEvents.Rejected(reason: "r")),
                .cancelled(OrderEvents.Cancelled(reason: "c")),
                .paymentChanged(OrderEvents.PaymentChanged(paymentId: "p", status: "REFUNDED")),
                .shipmentChanged(OrderEvents.ShipmentChanged(shipmentId: "s", status: "CANCELLED")),
            ]
        for event in events {
            #expect(try OrderEvent.decode(type: event.type, version: event.version, data: try event.encodedData()) == event)
        }
    }
}
