import Platform

/// How orders are spread over the order service's shards: a customer maps to one of `count` virtual
/// buckets by a stable hash of the customer id, and buckets map to shards through the durable shard map
/// (each shard records the buckets it owns). All of a customer's order data lives on the shard that owns
/// the customer's bucket; moving a bucket moves those customers and no one else.
///
/// An order id made by `orderId(_:customerId:)` carries its customer's bucket in its last byte, so a
/// command that names only the order (approve, reject, cancel) goes straight to the right shard. An id
/// made elsewhere carries no such promise: the order service then looks for the order on every shard.
public enum OrderBuckets {
    /// The number of virtual buckets: fixed for the life of the data (changing it rehashes everyone).
    public static let count = 256

    /// The customer's bucket: 64-bit FNV-1a of the id's UTF-8 bytes, modulo `count`. Stable across
    /// processes, platforms and releases (unlike `Hasher`, which is seeded per process).
    public static func bucket(customerId: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in customerId.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int(hash % UInt64(count))
    }

    /// The bucket an order id was stamped with: its last two hex digits, when it is a UUID in text form.
    public static func hint(orderId: String) -> Int? {
        let utf8 = Array(orderId.utf8)
        guard utf8.count == 36, utf8[8] == UInt8(ascii: "-"), utf8[23] == UInt8(ascii: "-"),
            let high = Hex.value(utf8[34]), let low = Hex.value(utf8[35])
        else { return nil }
        return Int(high) * 16 + Int(low)
    }

    /// A UUID in text form with its last byte replaced by the customer's bucket (the random bits of a
    /// UUIDv7 end there, so the id stays a valid, time-ordered UUIDv7).
    public static func orderId(_ uuid: String, customerId: String) -> String {
        String(uuid.lowercased().dropLast(2)) + Hex.encode([UInt8(bucket(customerId: customerId))])
    }

    /// The bucket an order belongs to: its customer's; an order known only by its id (a tombstone written
    /// by a rejection that came before the creation) goes where its id points.
    public static func bucket(orderId: String, customerId: String) -> Int {
        if !customerId.isEmpty { return bucket(customerId: customerId) }
        return hint(orderId: orderId) ?? bucket(customerId: orderId)
    }
}
