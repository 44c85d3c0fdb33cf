import FoundationEssentials
import Synchronization

/// The prices the order service has read from the inventory catalog, by SKU. A product's price and currency
/// never change once it is created (inventory has no route that changes them, and refuses a second
/// create), so a price read once holds; pricing an order asked the catalog for every line of every order
/// before (one HTTP exchange of the eleven a checkout made). An unknown SKU is never kept (it may be created
/// next), an entry goes after `ttl` (a restore of the inventory database to before a product's creation
/// can make the SKU free again), and past `capacity` the oldest entries go.
public final class CatalogPrices: Sendable {
    public struct Price: Sendable, Equatable {
        public let cents: Int64
        public let currency: String

        public init(cents: Int64, currency: String) {
            self.cents = cents
            self.currency = currency
        }
    }

    private struct Entry {
        let price: Price
        let expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let ttl: Duration
    private let capacity: Int

    public init(ttl: Duration = .seconds(600), capacity: Int = 10_000) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
    }

    /// The price of `sku` if it was read within `ttl`.
    public func price(of sku: String, now: ContinuousClock.Instant = .now) -> Price? {
        entries.withLock { entries in
            guard let entry = entries[sku] else { return nil }
            guard entry.expires > now else {
                entries[sku] = nil
                return nil
            }
            return entry.price
        }
    }

    /// Keeps a price read from the catalog.
    public func remember(_ price: Price, of sku: String, now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            if entries[sku] == nil && entries.count >= capacity {
                // The entries nearest to expiring are the oldest: drop a tenth of them at once.
                let oldest = entries.sorted { $0.value.expires < $1.value.expires }.prefix(max(1, capacity / 10))
                for (key, _) in oldest { entries[key] = nil }
            }
            entries[sku] = Entry(price: price, expires: now + ttl)
        }
    }

    /// Entries held now.
    public var count: Int { entries.withLock { $0.count } }
}
