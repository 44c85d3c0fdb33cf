import OrderCore
import Testing

@Suite("Catalog prices kept by the order service")
struct CatalogPricesTests {
    let start = ContinuousClock.now

    @Test func aPriceReadOnceIsKeptUntilItsTTL() {
        let prices = CatalogPrices(ttl: .seconds(10))
        #expect(prices.price(of: "A", now: start) == nil)
        prices.remember(.init(cents: 250, currency: "EUR"), of: "A", now: start)
        #expect(prices.price(of: "A", now: start + .seconds(9)) == .init(cents: 250, currency: "EUR"))
        #expect(prices.price(of: "A", now: start + .seconds(10)) == nil)
        #expect(prices.count == 0, "an expired entry is dropped when read")
        #expect(prices.price(of: "B", now: start) == nil)
    }

    @Test func pastItsCapacityTheOldestGo() {
        let prices = CatalogPrices(ttl: .seconds(60), capacity: 10)
        for index in 0..<10 {
            prices.remember(.init(cents: Int64(index), currency: "EUR"), of: "SKU-\(index)", now: start + .seconds(index))
        }
        #expect(prices.count == 10)
        prices.remember(.init(cents: 99, currency: "EUR"), of: "SKU-new", now: start + .seconds(20))
        #expect(prices.count == 10)
        #expect(prices.price(of: "SKU-0", now: start + .seconds(20)) == nil, "the oldest went")
        #expect(prices.price(of: "SKU-9", now: start + .seconds(20))?.cents == 9)
        #expect(prices.price(of: "SKU-new", now: start + .seconds(20))?.cents == 99)
        // Known again: no room is made for it.
        prices.remember(.init(cents: 9, currency: "EUR"), of: "SKU-9", now: start + .seconds(21))
        #expect(prices.count == 10)
    }
}
