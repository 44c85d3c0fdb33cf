import Foundation
import HTTP
import Logging
import ServiceKit
import Storage
import Synchronization
import TestSupport
import Testing

@testable import Messaging

struct Payload: Codable, Equatable {
    let n: Int
}

/// A producer database with an outbox served as a feed on a live server, and a consumer database.
final class FeedFixture: Sendable {
    let producer: any Database
    let consumer: any Database
    let server: HTTPServer
    let metrics = PrometheusRegistry()

    init(_ backend: Backend) async throws {
        producer = try await open(url: try DatabaseURL(try await backend.makeURL()))
        consumer = try await open(url: try DatabaseURL(try await backend.makeURL()))
        let dialect = producer.dialect
        try await producer.write { try $0.executeScript(Outbox.tableSQL(dialect)) }
        try await consumer.write {
            try $0.executeScript(FeedConsumer.tablesSQL(dialect))
            try $0.executeScript("CREATE TABLE applied (event_id TEXT PRIMARY KEY, n BIGINT NOT NULL)")
            try $0.executeScript(try auditTrailMigration(dialect))
        }
        var router = Router()
        EventFeed(database: producer).mount(on: &router)
        server = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), responder: router.responder)
        try server.start()
    }

    var feedURL: String { "http://127.0.0.1:\(server.port)/v1/events" }

    func append(_ n: Int) async throws {
        try await producer.write { try Outbox.append($0, type: "test.happened", aggregateId: "a-\(n)", data: Payload(n: n)) }
    }

    func consumer(
        name: String = "test",
        replica: String = "replica-a",
        maxAttempts: Int = 3,
        upcaster: EventUpcaster = EventUpcaster(),
        handler: @escaping FeedConsumer.Handler = { connection, event in
            try connection.execute("INSERT INTO applied (event_id, n) VALUES ($1, $2)", event.id, try event.decode(Payload.self).n)
        }
    ) -> FeedConsumer {
        FeedConsumer(
            name: name,
            feedURL: feedURL,
            database: consumer,
            client: HTTPClient.patient(),
            logger: Logger(label: "test"),
            metrics: metrics,
            maxAttempts: maxAttempts,
            wait: 1,
            replica: replica,
            upcaster: upcaster,
            handler: handler
        )
    }

    func applied() async throws -> [Int] {
        try await consumer.read { try $0.query("SELECT n FROM applied ORDER BY n", []).map { try $0.decode("n", as: Int.self) } }
    }

    func close() async {
        await server.shutdown(gracePeriod: .zero)
        await producer.close()
        await consumer.close()
    }
}

/// Runs the consumer until `condition` holds (or a limit passes), then stops it.
func consume(_ consumer: FeedConsumer, until condition: @escaping @Sendable () async throws -> Bool) async throws {
    let task = Task { try await consumer.run() }
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline, !(try await condition()) { try await Task.sleep(for: .milliseconds(20)) }
    task.cancel()
    _ = try? await task.value
}

@Suite("Outbox, event feed and feed consumer")
struct MessagingTests {
    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func theFeedServesEventsInOrderInTheEnvelope(_ backend: Backend) async throws {
        let fixture = try await FeedFixture(backend)
        for n in 1...3 { try await fixture.append(n) }
        let page = try await HTTPClient.patient().get("\(fixture.feedURL)?after=0&limit=10")
        let events = try EventFeed.parse(page.body)
        #expect(events.map(\.seq) == events.map(\.seq).sorted())
        #expect(try events.map { try $0.decode(Payload.self).n } == [1, 2, 3])
        #expect(events.allSatisfy { $0.type == "test.happened" && $0.version == 1 })
        let object = try JSONSerialization.jsonObject(with: Data(page.body)) as? [String: Any]
        let first = (object?["items"] as? [[String: Any]])?.first
        #expect(Set(first?.keys.map { $0 } ?? []) == ["seq", "id", "type", "version", "aggregateId", "occurredAt", "traceparent", "data"])
        #expect(object?["next"] as? String == "\(events.last!.seq)")
        #expect(object?["head"] as? Int == Int(events.last!.seq))
        let rest = try EventFeed.parse(try await HTTPClient.patient().get("\(fixture.feedURL)?after=\(events[0].seq)").body)
        #expect(rest.count == 2)
        // A full page and an empty one still report the newest seq.
        for query in ["after=0&limit=1", "after=\(events.last!.seq)"] {
            let other =
                try JSONSerialization.jsonObject(with: Data(try await HTTPClient.patient().get("\(fixture.feedURL)?\(query)").body))
                as? [String: Any]
            #expect(other?["head"] as? Int == Int(events.last!.seq), "\(query)")
        }
        #expect(try await HTTPClient.patient().get("\(fixture.feedURL)?after=-1").status.code == 422)
        await fixture.close()
    }

    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func aLongPollIsAnsweredWhenAnEventArrives(_ backend: Backend) async throws {
        let fixture = try await FeedFixture(backend)
        async let page = HTTPClient.patient().get("\(fixture.feedURL)?after=0&wait=10")
        try await Task.sleep(for: .milliseconds(200))
        try await fixture.append(7)
        let events = try EventFeed.parse(try await page.body)
        #expect(try events.map { try $0.decode(Payload.self).n } == [7])
        await fixture.close()
    }

    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func concurrentWritersNeverLetAFollowerSkipAnEvent(_ backend: Backend) async throws {
        let fixture = try await FeedFixture(backend)
        let seen = Mutex<[Int64]>([])
        // The follower reads while the writers commit, until it has seen 60 events (or 30 s pass). It is
        // not cancelled: a cancelled read now ends at once, and under load its first read may still be out.
        let follower = Task {
            var after: Int64 = 0
            let deadline = ContinuousClock.now + .seconds(30)
            while seen.withLock({ $0.count }) < 60 && ContinuousClock.now < deadline {
                let events = try EventFeed.parse(try await HTTPClient.patient().get("\(fixture.feedURL)?after=\(after)&limit=1000").body)
                seen.withLock { $0 += events.map(\.seq) }
                after = events.last?.seq ?? after
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<60 { group.addTask { try await fixture.append(n) } }
            try await group.waitForAll()
        }
        try await follower.value
        let all = try await fixture.producer.read {
            try $0.query("SELECT seq FROM outbox ORDER BY seq", []).map { try $0.decode("seq", as: Int64.self) }
        }
        // The follower saw every committed event, each once and in order: commit order is feed order.
        #expect(seen.withLock { $0 } == all)
        #expect(all.count == 60)
        await fixture.close()
    }

    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func eachEventTakesEffectOnceAndAReplayFromZeroChangesNothing(_ backend: Backend) async throws {
        let fixture = try await FeedFixture(backend)
        for n in 1...5 { try await fixture.append(n) }
        let consumer = fixture.consumer()
        try await consume(consumer) { try await fixture.applied().count == 5 }
        #expect(try await fixture.applied() == [1, 2, 3, 4, 5])
        #expect(fixture.metrics.render().contains(#"feed_consumer_lag_events{consumer="test"} 0"#), "\(fixture.metrics.render())")
        // Replay from zero: the inbox skips what took effect already.
        try await fixture.consumer.write { try $0.execute("UPDATE consumer_cursors SET seq = 0", []) }
        try await fixture.append(6)
        try await consume(fixture.consumer()) { try await fixture.applied().count == 6 }
        #expect(try await fixture.applied() == [1, 2, 3, 4, 5, 6])
        await fixture.close()
    }

    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func aPoisonEventIsDeadLetteredAndCanBeRedriven(_ backend: Backend) async throws {
        let fixture = try await FeedFixture(backend)
        for n in 1...3 { try await fixture.append(n) }
        struct Poison: Error {}
        let broken = Mutex(true)
        let consumer = fixture.consumer(maxAttempts: 2) { connection, event in
            let n = try event.decode(Payload.self).n
            if n == 2 && broken.withLock({ $0 }) { throw Poison() }
            try connection.execute("INSERT INTO applied (event_id, n) VALUES ($1, $2)", event.id, n)
        }
        try await consume(consumer) { try await fixture.applied().count == 2 }
        #expect(try await fixture.applied() == [1, 3])
        let dead = try await fixture.consumer.read { try $0.query("SELECT id, error FROM dead_letters", []) }
        #expect(dead.count == 1)
        #expect(fixture.metrics.render().contains(#"feed_dead_letters_total{consumer="test"} 1"#))
        broken.withLock { $0 = false }
        // Re-driven by an operator through the admin routes.
        var router = Router()
        FeedConsumer.mountAdmin([consumer], on: &router)
        let admin = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), responder: router.responder)
        try admin.start()
        let base = "http://127.0.0.1:\(admin.port)/v1/admin/consumers/test"
        let listed =
            try JSONSerialization.jsonObject(with: Data(try await HTTPClient.patient().get(base + "/dead-letters").body)) as? [String: Any]
        let id = try #require((listed?["items"] as? [[String: Any]])?.first?["id"] as? String)
        #expect(id == (try dead[0].decode("id", as: String.self)))
        let redriven = try await AuditContext.$current.withValue(AuditContext(actor: "operator:ana")) {
            // The operator's identity reaches the handler as the service kit sets it; here, as a direct call.
            try await consumer.redrive(deadLetter: id)
        }
        #expect(redriven)
        #expect(
            try await HTTPClient.patient().execute(ClientRequest(method: "POST", url: base + "/dead-letters/\(id)/redrive")).status.code
                == 404
        )
        await admin.shutdown(gracePeriod: .zero)
        // The redrive is on the consumer's audit trail, as the operator's, in the transaction that applied it.
        let audited = try await fixture.consumer.read { try AuditTrail.page($0) }
        #expect(
            audited.map(\.action) == ["consumer.redrive"] && audited.first?.actor == "operator:ana" && audited.first?.target == "test/\(id)"
        )
        #expect(try await fixture.applied() == [1, 2, 3])
        #expect(try await fixture.consumer.read { try $0.query("SELECT id FROM dead_letters", []) }.isEmpty)
        await fixture.close()
    }

    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func aHandlerFailingForAWhileForTechnicalReasonsDelaysItsEventButNeverDeadLettersIt(_ backend: Backend) async throws {
        let fixture = try await FeedFixture(backend)
        for n in 1...3 { try await fixture.append(n) }
        let failuresLeft = Mutex(7)
        // Two attempts make a poison event dead: seven technical failures in a row of event 2 must not.
        let consumer = fixture.consumer(maxAttempts: 2) { connection, event in
            let n = try event.decode(Payload.self).n
            if n == 2 {
                let fail = failuresLeft.withLock { left in
                    left -= 1
                    return left >= 0
                }
                if fail {
                    switch failuresLeft.withLock({ $0 }) % 3 {
                    case 0: throw Faults.Injected(outcome: .fail(status: 503), point: "consumer.after_apply")
                    case 1: throw HTTPClientError(.connectFailed, "catalog: Connection refused")
                    default: throw DatabaseError(.serializationFailure, "could not serialize access")
                    }
                }
            }
            try connection.execute("INSERT INTO applied (event_id, n) VALUES ($1, $2)", event.id, n)
        }
        try await consume(consumer) { try await fixture.applied().count == 3 }
        #expect(try await fixture.applied() == [1, 2, 3])
        #expect(failuresLeft.withLock { $0 } < 0)
        #expect(try await fixture.consumer.read { try $0.query("SELECT id FROM dead_letters", []) }.isEmpty)
        await fixture.close()
    }

    @Test func technicalFailuresArePassingAndOthersArePoison() {
        #expect(FeedConsumer.isTransient(Faults.Injected(outcome: .fail(status: 503), point: "p")))
        #expect(FeedConsumer.isTransient(Faults.Injected(outcome: .reset, point: "p")))
        #expect(!FeedConsumer.isTransient(Faults.Injected(outcome: .fail(status: 500), point: "p")))
        #expect(!FeedConsumer.isTransient(Faults.Injected(outcome: .fail(status: 507), point: "p")))
        #expect(!FeedConsumer.isTransient(Faults.Injected(outcome: .fail(status: 422), point: "p")))
        #expect(FeedConsumer.isTransient(HTTPError(.serviceUnavailable, code: "service_unavailable")))
        #expect(!FeedConsumer.isTransient(HTTPError.notFound()))
        #expect(FeedConsumer.isTransient(HTTPClientError(.timeout, "late")))
        #expect(!FeedConsumer.isTransient(HTTPClientError(.invalidResponse, "garbled")))
        #expect(FeedConsumer.isTransient(DatabaseError(.serializationFailure, "retry")))
        #expect(!FeedConsumer.isTransient(DatabaseError(.constraintViolation, "check")))
        #expect(!FeedConsumer.isTransient(DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "bad event"))))
    }

    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func withTwoReplicasOneConsumesAtATime(_ backend: Backend) async throws {
        let fixture = try await FeedFixture(backend)
        let first = fixture.consumer(replica: "replica-a")
        let second = fixture.consumer(replica: "replica-b")
        #expect(try await first.claimForTest() != nil)
        #expect(try await second.claimForTest() == nil)
        #expect(try await first.claimForTest() != nil)
        await fixture.close()
    }

    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func aRewindWhileRunningReplaysAndChangesNothing(_ backend: Backend) async throws {
        let fixture = try await FeedFixture(backend)
        for n in 1...3 { try await fixture.append(n) }
        let consumer = fixture.consumer()
        let task = Task { try await consumer.run() }
        defer { task.cancel() }
        #expect(try await waitFor { try await fixture.applied().count == 3 })
        let head = try await consumer.status().seq
        try await consumer.rewind(to: 0)
        #expect(try await consumer.status().seq == 0)
        try await fixture.append(4)
        #expect(try await waitFor { try await fixture.applied().count == 4 })
        #expect(try await waitFor { try await consumer.status().seq > head })
        let status = try await consumer.status()
        #expect(status.consumed == 4)
        #expect(status.deadLetters == 0)
        #expect(try await fixture.applied() == [1, 2, 3, 4])
        task.cancel()
        _ = try? await task.value
        await fixture.close()
    }

    /// The feed's database restored from a backup: its head falls behind the consumer's cursor and its next
    /// events reuse seqs the consumer has read. The consumer notices and replays from 0; the inbox keeps the
    /// events it had applied from taking effect twice, and the new ones under old numbers are not missed.
    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func aFeedRestoredBehindTheCursorIsReplayedAndNothingIsMissedOrDoubled(_ backend: Backend) async throws {
        let fixture = try await FeedFixture(backend)
        for n in 1...5 { try await fixture.append(n) }
        let consumer = fixture.consumer()
        let task = Task { try await consumer.run() }
        defer { task.cancel() }
        #expect(try await waitFor { try await fixture.applied().count == 5 })
        // As the producer's backup from after event 2 would bring it back: seqs 3... are free again.
        try await fixture.producer.write { connection in
            try connection.execute("DELETE FROM outbox WHERE seq > 2", [])
            if connection.dialect == .postgres {
                _ = try connection.query("SELECT setval(pg_get_serial_sequence('outbox', 'seq'), 2)", [])
            } else {
                try connection.execute("UPDATE sqlite_sequence SET seq = 2 WHERE name = 'outbox'", [])
            }
        }
        for n in 6...8 { try await fixture.append(n) }
        #expect(try await waitFor { try await fixture.applied().count == 8 })
        #expect(try await fixture.applied() == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try await consumer.status().seq == 5)
        #expect(try await consumer.status().consumed == 8)
        task.cancel()
        _ = try? await task.value
        await fixture.close()
    }

    /// A page read before the cursor moved (rewound, or another replica went on) is dropped with its effect.
    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func anEffectIsRolledBackWhenTheCursorMovedUnderIt(_ backend: Backend) async throws {
        let fixture = try await FeedFixture(backend)
        try await fixture.append(1)
        let consumer = fixture.consumer()
        #expect(try await consumer.claimForTest() == 0)
        let event = try await fixture.producer.read { try Outbox.events($0, after: 0, limit: 1) }[0]
        await #expect(throws: FeedConsumer.CursorMoved.self) {
            try await fixture.consumer.write { connection in
                try FeedConsumer.record(connection, consumer: "test", event: event, expected: 42) {
                    try connection.execute("INSERT INTO applied (event_id, n) VALUES ($1, $2)", event.id, 1)
                }
            }
        }
        #expect(try await fixture.applied().isEmpty)
        #expect(try await consumer.status().consumed == 0)
        await fixture.close()
    }

    @Test(arguments: Backend.available.filter { $0 != .sqliteMemory })
    func olderEventVersionsAreUpcastBeforeTheHandlerSeesThem(_ backend: Backend) async throws {
        let fixture = try await FeedFixture(backend)
        for n in 1...2 { try await fixture.append(n) }
        // Version 1 counted in units; version 2 counts in tens.
        var upcaster = EventUpcaster()
        upcaster.register("test.happened", from: 1, as: Payload.self) { Payload(n: $0.n * 10) }
        let consumer = fixture.consumer(upcaster: upcaster) { connection, event in
            #expect(event.version == 2)
            try connection.execute("INSERT INTO applied (event_id, n) VALUES ($1, $2)", event.id, try event.decode(Payload.self).n)
        }
        try await consume(consumer) { try await fixture.applied().count == 2 }
        #expect(try await fixture.applied() == [10, 20])
        await fixture.close()
    }
}

/// Polls `condition` until it holds or 20 s pass.
func waitFor(_ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return false
}
