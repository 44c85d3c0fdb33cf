import Foundation
import HTTP
import TestSupport
import Testing

/// SIGTERM ends every service within its drain deadline (10 s) even while a feed consumer long-polls
/// another service or backs off from one that is gone; before, the gateway stayed up about 10 s after its
/// server stopped, and a service serving a long poll waited for the whole grace period.
@Suite("Shutdown without lingering", .serialized)
struct ShutdownTests {
    /// SIGTERM each of `names` in turn; returns how long each took to exit.
    func terminate(_ system: SagaMartSystem, _ names: [String]) async -> [(String, Duration)] {
        var times: [(String, Duration)] = []
        for name in names {
            let start = ContinuousClock.now
            await system.kill(name, signal: SIGTERM)
            times.append((name, ContinuousClock.now - start))
        }
        return times
    }

    @Test func everyServiceExitsPromptlyWhileItsConsumersLongPollOrBackOff() async throws {
        let system = try await SagaMartSystem(layout: .sqlite)
        defer { system.stopAll() }
        let sku = uniqueSKU("TERM")
        try await system.createProduct(sku, stock: 5)
        let response = try await system.checkout(checkoutBody(sku: sku))
        #expect(response.status.code == 201, "\(response.bodyText)")
        // The consumers are now in their long polls (gateway on inventory, order on payment and shipping),
        // and the producers hold those polls open.
        try await Task.sleep(for: .seconds(1))
        let polling = await terminate(system, ["inventory", "gateway", "payment", "order", "saga", "shipping"])

        // Again, with the consumers' sources gone: they back off.
        for name in ["gateway", "order", "saga"] {
            try system.start(name)
            try await system.waitReady(name)
        }
        try await Task.sleep(for: .seconds(2))
        let backingOff = await terminate(system, ["gateway", "order", "saga"])

        print("SIGTERM to exit, long-polling: \(polling); backing off: \(backingOff)")
        for (name, time) in polling + backingOff {
            #expect(time < .seconds(5), "\(name) took \(time) to exit after SIGTERM")
            #expect(!system.isRunning(name))
        }
    }
}
