import Contracts
import Foundation
import OrderCore
import Storage
import Synchronization
import TestSupport
import Testing

/// The event store and projections on SQLite and PostgreSQL, with the service's own migrations.
@Suite("Order event store and projections")
struct OrderEventStoreTests {
    static let backends = Backend.available.filter { $0 != .sqliteMemory }

    func withOrderDatabase(_ backend: Backend, _ body: (any Database) async throws -> Void) async throws {
        try await backend.withDatabase(poolSize: 8) { database in
            let migrations = try OrderSchema.migrations.migrations(for: database.dialect)
            _ = try await Migrator(migrations).migrate(database)
            try await body(database)
        }
    }

    func create(_ database: any Database, _ id: String, customer: String = "alice") async throws {
        try await database.write { connection in
            try OrderEventStore.execute(connection, id: id) {
                try $0.create(
                    customerId: customer,
                    checkoutId: "c-\(id)",
                    lines: [OrderAPI.Line(sku: "A", quantity: 1, unitPriceCents: 100)],
                    currency: "EUR"
                )
            }
        }
    }

    @Test(arguments: backends)
    func anAppendOnAStaleVersionIsDetected(_ backend: Backend) async throws {
        try await withOrderDatabase(backend) { database in
            try await create(database, "o1")
            let stale = try await database.read { try OrderEventStore.load($0, id: "o1") }
            try await database.write { connection in
                try OrderEventStore.execute(connection, id: "o1") { try $0.approve(paymentId: "p1", shipmentId: "s1") }
            }
            await #expect(throws: ConcurrencyConflict(orderId: "o1", expectedVersion: 1)) {
                try await database.write { connection in
                    try OrderEventStore.append(connection, to: stale, try stale.reject(reason: "late"), now: Date())
                }
            }
            let order = try await database.read { try OrderEventStore.load($0, id: "o1") }
            #expect(order.status == .approved)
            #expect(order.version == 2)
        }
    }

    /// Many writers appending to one stream at once: every append lands exactly once, at its own version.
    @Test(arguments: backends)
    func concurrentAppendsAreRetriedAndNoneIsLost(_ backend: Backend) async throws {
        try await withOrderDatabase(backend) { database in
            try await create(database, "o1")
            let conflicts = ConflictCount()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<20 {
                    group.addTask {
                        try await OrderEventStore.retryingConflicts(attempts: 100) {
                            do {
                                try await database.write { connection in
                                    let order = try OrderEventStore.load(connection, id: "o1")
                                    // Each writer reports a distinct shipment so that each decision appends.
                                    let event = OrderEvent.shipmentChanged(
                                        OrderEvents.ShipmentChanged(shipmentId: "s\(n)", status: "SCHEDULED")
                                    )
                                    try OrderEventStore.append(connection, to: order, [event], now: Date())
                                }
                            } catch let conflict as ConcurrencyConflict {
                                conflicts.add()
                                throw conflict
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let stream = try await database.read { try OrderEventStore.history($0, id: "o1") }
            #expect(stream.map(\.version) == Array(1...21))
            #expect(Set(stream.dropFirst().map(\.data)).count == 20)
            if backend == .postgres { #expect(conflicts.value > 0, "PostgreSQL writers should have collided") }
        }
    }

    /// A transaction appending to several streams (a feed consumer's page) beside commands on those streams:
    /// on PostgreSQL they must take their locks in one order, or they deadlock.
    @Test(arguments: backends)
    func aPageOverSeveralStreamsAndCommandsOnThemNeverDeadlock(_ backend: Backend) async throws {
        try await withOrderDatabase(backend) { database in
            let ids = (1...6).map { "o\($0)" }
            for id in ids { try await create(database, id) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for round in 0..<8 {
                    group.addTask {
                        try await OrderEventStore.retryingConflicts(attempts: 100) {
                            try await database.write { connection in
                                for id in ids {
                                    let order = try OrderEventStore.load(connection, id: id)
                                    let event = OrderEvent.paymentChanged(
                                        OrderEvents.PaymentChanged(paymentId: "p\(round)", status: "AUTHORIZED")
                                    )
                                    try OrderEventStore.append(connection, to: order, [event], now: Date())
                                }
                            }
                        }
                    }
                    for id in ids.reversed() {
                        group.addTask {
                            try await OrderEventStore.retryingConflicts(attempts: 100) {
                                try await database.write { connection in
                                    let order = try OrderEventStore.load(connection, id: id)
                                    let event = OrderEvent.shipmentChanged(
                                        OrderEvents.ShipmentChanged(shipmentId: "s\(round)", status: "SCHEDULED")
                                    )
                                    try OrderEventStore.append(connection, to: order, [event], now: Date())
                                }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            for id in ids {
                let stream = try await database.read { try OrderEventStore.history($0, id: id) }
                #expect(stream.map(\.version) == Array(1...17))
            }
        }
    }

    @Test(arguments: backends)
    func theProjectionsEqualARebuildAndTheHistoryPagesNewestFirst(_ backend: Backend) async throws {
        try await withOrderDatabase(backend) { database in
            for n in 1...5 { try await create(database, "o\(n)", customer: n % 2 == 0 ? "bob" : "alice") }
            try await database.write { connection in
                try OrderEventStore.execute(connection, id: "o1") { try $0.approve(paymentId: "p1", shipmentId: "s1") }
                try OrderEventStore.execute(connection, id: "o1") { $0.recordShipment(id: "s1", status: "DISPATCHED") }
                try OrderEventStore.execute(connection, id: "o3") { try $0.reject(reason: "out_of_stock") }
                try OrderEventStore.execute(connection, id: "ghost") { try $0.reject(reason: "timeout") }
            }
            let kept = try await database.read { try OrderProjection.dump($0) }
            #expect(kept.first { $0.id == "o1" }?.status == .shipped)
            let count = try await database.write { try OrderProjection.rebuild($0) }
            #expect(count == 6)
            #expect(try await database.read { try OrderProjection.dump($0) } == kept)
            #expect(try await OrderProjection.rebuildIfOutdated(database) == nil)

            let first = try await database.read { try OrderProjection.history($0, customerId: "alice", after: nil, limit: 2) }
            #expect(first.items.map(\.id) == ["o5", "o3"])
            let second = try await database.read { try OrderProjection.history($0, customerId: "alice", after: first.next, limit: 2) }
            #expect(second.items.map(\.id) == ["o1"])
            #expect(second.next == nil)
            // The early rejection of an unknown id is kept in its stream but shown nowhere.
            #expect(try await database.read { try OrderProjection.order($0, id: "ghost") } == nil)
            #expect(try await database.read { try OrderProjection.history($0, customerId: nil, after: nil, limit: 10) }.items.count == 5)
        }
    }

    @Test(arguments: backends)
    func eachAppendedEventIsPublishedOnTheOrderFeed(_ backend: Backend) async throws {
        try await withOrderDatabase(backend) { database in
            try await create(database, "o1")
            try await database.write { connection in
                try OrderEventStore.execute(connection, id: "o1") { try $0.approve(paymentId: nil, shipmentId: nil) }
            }
            let rows = try await database.read { try $0.query("SELECT type, version, aggregate_id FROM outbox ORDER BY seq", []) }
            #expect(try rows.map { try $0.decode("type", as: String.self) } == ["order.created", "order.approved"])
            #expect(try rows.map { try $0.decode("version", as: Int64.self) } == [2, 1])
        }
    }
}

/// How many appends collided, counted across tasks.
final class ConflictCount: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// Orders kept as rows before event sourcing become streams in the migration, and views at the next start.
@Suite("Order migration to event streams")
struct OrderMigrationTests {
    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func rowsOfTheOldSchemaBecomeStreamsAndViews(_ backend: Backend) async throws {
        try await backend.withDatabase { database in
            let migrations = try OrderSchema.migrations.migrations(for: database.dialect)
            _ = try await Migrator(Array(migrations.prefix(1))).migrate(database)
            let created = Date(timeIntervalSince1970: 1_700_000_000)
            try await database.write { connection in
                for (id, customer, status, reason) in [
                    ("o1", "alice", "APPROVED", nil), ("o2", "alice", "PENDING", nil), ("o3", "bob", "REJECTED", "out_of_stock"),
                    ("o4", "", "REJECTED", "timeout"),
                ] as [(String, String, String, String?)] {
                    try connection.execute(
                        """
                        INSERT INTO orders (id, customer_id, checkout_id, status, reason, total_cents, currency, created_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $6, 'EUR', $7, $7)
                        """,
                        [
                            .text(id), .text(customer), .text("c-\(id)"), .text(status), reason.databaseValue,
                            .integer(customer.isEmpty ? 0 : 700), .date(created),
                        ]
                    )
                    if !customer.isEmpty {
                        try connection.execute(
                            "INSERT INTO order_items (order_id, sku, quantity, unit_price_cents) VALUES ($1, 'A', 2, 350)",
                            id
                        )
                    }
                }
            }
            _ = try await Migrator(migrations).migrate(database)
            #expect(try await OrderProjection.rebuildIfOutdated(database) == 4)
            let views = try await database.read { try OrderProjection.dump($0) }
            #expect(views.map(\.id) == ["o1", "o2", "o3", "o4"])
            #expect(views.map(\.status) == [.approved, .pending, .rejected, .rejected])
            let first = try #require(views.first)
            #expect(first.items == [OrderAPI.Line(sku: "A", quantity: 2, unitPriceCents: 350)])
            #expect(first.totalCents == 700)
            #expect(first.createdAt == Timestamp.format(created))
            #expect(views[2].reason == "out_of_stock")
            // The converted streams take new events at the next version.
            let approved = try await database.write { connection in
                try OrderEventStore.execute(connection, id: "o2") { try $0.approve(paymentId: nil, shipmentId: nil) }
            }
            #expect(approved.version == 2)
            #expect(try await database.read { try OrderProjection.order($0, id: "o4") } == nil)
        }
    }
}
