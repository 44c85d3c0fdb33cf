import Contracts
import Foundation
import HTTP
import SagaCore
import ServiceKit
import Storage
import Testing

@testable import Saga

/// The saga store's writes that people cause: a start and an operator's retry are on the audit trail in
/// their own transaction, as the person; the stored state keeps the token and address sealed.
@Suite("Saga store: audit entries and sealed state")
struct SagaStoreAuditTests {
    @Test func startAndRetryAreAuditedAndTheStateIsSealed() async throws {
        let (database, store) = try await makeStore(replica: "test")
        let saga = StoredSaga.checkout(sampleCheckout())
        _ = try await AuditContext.$current.withValue(AuditContext(actor: "customer:alice", traceID: "t1", requestID: "r1")) {
            try await store.insertOrFetch(saga)
        }
        try await AuditContext.$current.withValue(AuditContext(actor: "operator:ana")) {
            let request = Request(method: "POST", target: "/v1/sagas/c1/resume", headers: [("Idempotency-Key", "k1")])
            _ = try await store.operatorAction(request, action: "saga.retry", id: "c1") { _ in }
        }
        let entries = try await database.read { try AuditTrail.page($0) }
        #expect(
            entries.map { "\($0.actor) \($0.action) \($0.target)" } == ["customer:alice checkout.start c1", "operator:ana saga.retry c1"]
        )
        #expect(entries.first?.traceId == "t1" && entries.first?.requestId == "r1")
        let state = try await database.read { try $0.queryOne("SELECT state FROM sagas WHERE id = 'c1'")!.decode("state", as: String.self) }
        #expect(!state.contains("pm_secret") && !state.contains("Zelda") && state.contains("\"sealed\":\"enc:v1:dev:"))
        #expect(try await store.load("c1") == saga, "the state reads back whole")
        await database.close()
    }
}

/// A saga store on a migrated in-memory SQLite database, with the development keys.
func makeStore(replica: String, lease: TimeInterval = 10) async throws -> (any Database, SagaStore) {
    let database = try await Storage.open(url: DatabaseURL("sqlite::memory:"), poolSize: 1)
    let migrations = URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/Services/Saga/App/Migrations")
    _ = try await Migrator(try Migration.load(from: migrations, dialect: .sqlite)).migrate(database)
    let keyring = try Keyring(environment: Environment(["SAGAMART_ENV": "development"]), service: "saga")
    return (database, SagaStore(database: database, replica: replica, lease: lease, keyring: keyring))
}

/// Saga c1 at its first step, with a payment token and an address that must never be stored in clear.
func sampleCheckout() -> CheckoutSaga {
    CheckoutSaga(
        id: "c1",
        customerId: "alice",
        orderId: "o1",
        paymentId: "p1",
        shipmentId: "h1",
        items: [Item(sku: "MUG", quantity: 1)],
        paymentToken: "pm_secret",
        shipping: ShippingAPI.Address(name: "Zelda Q", line1: "742 Way", city: "Lisbon", postalCode: "1100", country: "PT"),
        now: Date()
    )
}
