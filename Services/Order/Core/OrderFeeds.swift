import Contracts
import FoundationEssentials
import Messaging
import Storage

/// What the order service takes from other services' feeds: payment and shipment statuses become events of
/// the order they belong to (so the order's stream holds everything its views show, and a rebuild needs
/// nothing but the streams). Run by `FeedConsumer`s inside their transactions; the inbox makes each feed
/// event count once, and the aggregate ignores statuses that do not move forward.
public enum OrderFeeds {
    /// The consumer names (cursor rows and admin routes).
    public static let paymentConsumer = "order.payments"
    public static let shippingConsumer = "order.shipments"

    /// Applies a payment feed event. Events of other types are skipped.
    public static func applyPayment(_ connection: DatabaseConnection, _ event: StoredEvent) throws {
        guard event.type == PaymentAPI.PaymentChanged.type else { return }
        let change = try event.decode(PaymentAPI.PaymentChanged.self)
        try applyToOwnedOrder(connection, id: change.orderId, now: event.occurredAt) {
            $0.recordPayment(id: change.paymentId, status: change.status.rawValue)
        }
    }

    /// Applies a shipping feed event: dispatch and delivery move the order to SHIPPED and DELIVERED.
    public static func applyShipment(_ connection: DatabaseConnection, _ event: StoredEvent) throws {
        guard event.type == ShippingAPI.ShipmentChanged.type else { return }
        let change = try event.decode(ShippingAPI.ShipmentChanged.self)
        try applyToOwnedOrder(connection, id: change.orderId, now: event.occurredAt) {
            $0.recordShipment(id: change.shipmentId, status: change.status.rawValue)
        }
    }

    /// Every shard follows the whole feed; an event changes the order only on the shard that owns the
    /// order's bucket (an order this shard does not hold changes nothing, as before sharding).
    private static func applyToOwnedOrder(
        _ connection: DatabaseConnection,
        id: String,
        now: Date,
        _ decide: (OrderAggregate) -> [OrderEvent]
    ) throws {
        let order = try OrderEventStore.load(connection, id: id)
        guard order.exists, try OrderShards.consumerApplies(connection, bucket: order.bucket) else { return }
        try OrderEventStore.append(connection, to: order, decide(order), now: now)
    }
}
