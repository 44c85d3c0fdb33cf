import Contracts
import CoreMetrics
import FoundationEssentials
import HTTP
import Logging
import ServiceLifecycle
import Storage

/// Thrown by a handler for an event it cannot apply yet but must not skip (the order it belongs to is
/// being moved to another shard): the consumer stops before it, without counting an attempt or
/// dead-lettering it, and reads the feed again after its backoff.
public struct DeferredEvent: Error, Sendable {
    public let reason: String

    public init(reason: String) {
        self.reason = reason
    }
}

/// Follows another service's event feed and applies each event to this service's own database.
///
/// Each event is applied, recorded in an inbox (its id) and the cursor advanced in **one** transaction of
/// this service's database: delivery is at least once, the effect exactly once, and a replay from zero
/// changes nothing. An event whose handler keeps failing goes to `dead_letters` with its error after
/// `maxAttempts` (the cursor moves on, `feed_dead_letters_total` rises) and can be re-driven. With several
/// replicas, a lease on the cursor row lets one consume at a time.
public final class FeedConsumer: Service, Sendable {
    public typealias Handler = @Sendable (DatabaseConnection, StoredEvent) throws -> Void

    /// Pauses between attempts to read the feed, and between attempts of a failing handler (the HTTP
    /// client's exponential backoff with jitter).
    static let feedRetry = RetryPolicy(initialBackoff: .milliseconds(50), maxBackoff: .seconds(5))
    static let handlerRetry = RetryPolicy(initialBackoff: .milliseconds(40), maxBackoff: .seconds(2))

    public let name: String
    let feedURL: String
    let database: any Database
    let client: HTTPClient
    let headers: @Sendable () -> HTTPHeaders
    let handler: Handler
    let logger: Logger
    let metrics: MetricsFactory
    let maxAttempts: Int
    let wait: Int
    let replica: String
    let lease: TimeInterval
    let upcaster: EventUpcaster
    /// `feed_consumer_lag_events{consumer}`: the feed's newest seq minus this consumer's cursor.
    let lag: Gauge

    public init(
        name: String,
        feedURL: String,
        database: any Database,
        client: HTTPClient,
        headers: @escaping @Sendable () -> HTTPHeaders = { HTTPHeaders() },
        logger: Logger,
        metrics: MetricsFactory,
        maxAttempts: Int = 5,
        wait: Int = 20,
        replica: String = UUIDv7.string(),
        lease: TimeInterval = 10,
        upcaster: EventUpcaster = EventUpcaster(),
        handler: @escaping Handler
    ) {
        self.upcaster = upcaster
        lag = Gauge(label: "feed_consumer_lag_events", dimensions: [("consumer", name)], factory: metrics)
        self.name = name
        self.feedURL = feedURL
        self.database = database
        self.client = client
        self.headers = headers
        self.handler = handler
        self.logger = logger
        self.metrics = metrics
        self.maxAttempts = maxAttempts
        self.wait = wait
        self.replica = replica
        self.lease = lease
    }

    /// The consumer's tables, for the migrations of the service that runs it.
    public static func tablesSQL(_ dialect: SQLDialect) -> String {
        let (integer, time, strict) = dialect == .sqlite ? ("INTEGER", "TEXT", " STRICT") : ("BIGINT", "TIMESTAMPTZ", "")
        return """
            CREATE TABLE consumer_cursors (
                consumer TEXT PRIMARY KEY,
                seq \(integer) NOT NULL,
                lease_owner TEXT,
                lease_until \(time)
            )\(strict);
            CREATE TABLE consumed_events (
                consumer TEXT NOT NULL,
                event_id TEXT NOT NULL,
                PRIMARY KEY (consumer, event_id)
            )\(strict);
            CREATE TABLE dead_letters (
                id TEXT PRIMARY KEY,
                consumer TEXT NOT NULL,
                seq \(integer) NOT NULL,
                event TEXT NOT NULL,
                error TEXT NOT NULL,
                failed_at \(time) NOT NULL
            )\(strict)
            """
    }

    public func run() async throws {
        // Cancelled at graceful shutdown: a long poll or a backoff in progress ends at once (each event's
        // transaction is whole or absent either way), so a SIGTERM does not wait for the feed. On an event
        // loop, where its feed requests wait: each page is read, parsed and applied without a hand-off
        // through the global executor.
        try? await withTaskExecutorPreference(EventLoopGroup.shared.next()) {
            try await cancelWhenGracefulShutdown { await self.follow() }
        }
    }

    private func follow() async {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                guard let cursor = try await claim() else {
                    try? await Task.sleep(for: .seconds(max(1, lease / 3)))
                    continue
                }
                try await consume(after: cursor)
                failures = 0
            } catch {
                if Task.isCancelled { return }
                failures += 1
                logger.warning("feed consumer retrying", metadata: ["consumer": "\(name)", "error": "\(error)"])
                try? await Task.sleep(for: Self.feedRetry.backoff(attempt: failures))
            }
        }
    }

    /// For tests: takes or renews the lease, as `run()` does before each page.
    public func claimForTest() async throws -> Int64? { try await claim() }

    /// Takes or renews the lease on this consumer's cursor; returns the cursor, or nil when another replica holds it.
    func claim() async throws -> Int64? {
        let (name, replica, lease) = (self.name, self.replica, self.lease)
        return try await database.write { connection in
            let now = Date()
            if try connection.queryOne("SELECT seq FROM consumer_cursors WHERE consumer = $1", name) == nil {
                try connection.execute("INSERT INTO consumer_cursors (consumer, seq) VALUES ($1, 0)", name)
            }
            let lock = connection.dialect == .postgres ? " FOR UPDATE" : ""
            let row = try connection.queryOne(
                "SELECT seq, lease_owner, lease_until FROM consumer_cursors WHERE consumer = $1" + lock,
                name
            )!
            let owner = try row.decode("lease_owner", as: String?.self)
            let until = try row.decode("lease_until", as: Date?.self)
            if let owner, owner != replica, let until, until > now { return nil }
            try connection.execute(
                "UPDATE consumer_cursors SET lease_owner = $1, lease_until = $2 WHERE consumer = $3",
                replica,
                now.addingTimeInterval(lease),
                name
            )
            return try row.decode("seq", as: Int64.self)
        }
    }

    /// Reads one page (long poll) and applies it.
    func consume(after cursor: Int64) async throws {
        var request = ClientRequest(
            url: "\(feedURL)?after=\(cursor)&limit=100&wait=\(wait)",
            headers: headers(),
            timeout: .seconds(Int64(wait) + 10)
        )
        request.headers.replaceOrAdd(name: "Accept", value: "application/json")
        request.guardedByBreaker = false
        let response = try await client.execute(request)
        guard response.status.code == 200 else { throw FeedError.unavailable(response.status.code) }
        let page = try EventFeed.parsePage(response.body)
        let (events, head) = (page.events, page.head)
        if cursor > 0, try await !(readBefore(page.afterId)) {
            try await replayRestoredFeed(cursor: cursor, head: head)
            return
        }
        guard let last = events.last else {
            lag.record(max(0, (head ?? cursor) - cursor))
            return
        }
        do {
            // The whole page in one transaction (one commit, one fsync, instead of one per event) ...
            try await applyPage(events, expected: cursor)
        } catch is CursorMoved {
            // Rewound by an operator, or taken by another replica: read again from where it is now.
            return
        } catch let error as DatabaseError where error.code == .connectionLost || error.code == .timeout {
            throw error
        } catch {
            // (A `DeferredEvent` lands here too: the events before it take effect, and the event-by-event
            // pass stops at it.)
            // ... and when an event of it fails, event by event, so that only that one is retried and
            // dead-lettered while the others take effect.
            var expected = cursor
            for event in events {
                do {
                    try await apply(event, expected: expected)
                } catch is CursorMoved {
                    return
                }
                expected = event.seq
            }
        }
        // How many events of the feed this consumer has yet to apply, as of the page's read.
        lag.record(max(0, (head ?? last.seq) - last.seq))
    }

    /// Whether the event the feed has at this consumer's cursor is one the consumer took (its inbox or its
    /// dead letters know the id).
    func readBefore(_ eventId: String?) async throws -> Bool {
        guard let eventId else { return false }
        let name = self.name
        return try await database.read { connection in
            try connection.queryOne("SELECT 1 AS known FROM consumed_events WHERE consumer = $1 AND event_id = $2", name, eventId) != nil
                || connection.queryOne("SELECT 1 AS known FROM dead_letters WHERE consumer = $1 AND id = $2", name, eventId) != nil
        }
    }

    /// The feed does not hold, at the cursor, the event this consumer read there: its database was restored
    /// from a backup (or replaced), and its new events take seqs the consumer believes it has read. Reading
    /// again from 0 is the only way to see them, and it is safe: the inbox knows, by id, every event that
    /// took effect, so the old ones change nothing.
    func replayRestoredFeed(cursor: Int64, head: Int64?) async throws {
        let name = self.name
        let moved = try await database.write { connection in
            try connection.execute("UPDATE consumer_cursors SET seq = 0 WHERE consumer = $1 AND seq = $2", name, cursor)
        }
        if moved == 1 {
            logger.warning(
                "the feed does not hold the event at the cursor (restored from a backup?): replaying it from 0",
                metadata: ["consumer": "\(name)", "cursor": "\(cursor)", "head": "\(head.map(String.init) ?? "?")"]
            )
        }
    }

    /// Applies a page in one transaction, all or nothing: each event with its inbox entry, then the cursor
    /// moved once from where the page started to its last event (in one transaction, one fence at the end
    /// guards every effect before it as well as one per event did).
    func applyPage(_ events: [StoredEvent], expected cursor: Int64) async throws {
        guard let last = events.last else { return }
        let (name, handler, upcaster) = (self.name, self.handler, self.upcaster)
        try await database.write { connection in
            for event in events {
                try Self.takeEffect(connection, consumer: name, eventId: event.id) {
                    try handler(connection, try upcaster.upcast(event))
                    // Applied, the cursor not yet moved (fault point `consumer.after_apply`).
                    try Faults.shared.checkBlocking("consumer.after_apply", name)
                }
            }
            try Self.moveCursor(connection, consumer: name, from: cursor, to: last.seq)
        }
    }

    /// Whether a handler's failure is technical and passing: a service it called that is down, busy or
    /// unreachable (502 to 504, a transport failure other than a malformed answer), a database's transient
    /// refusal (a serialization failure), or an injected fault that stands for one of these. Anything else (a
    /// bug, an event the handler cannot read, a constraint the event breaks) would fail again the same way: it
    /// counts towards dead-lettering. (A lost or busy database connection never reaches here: it stops the
    /// page.)
    static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case let error as DatabaseError: return [.serializationFailure, .connectionLost, .timeout, .closed].contains(error.code)
        case let error as HTTPClientError: return ![.invalidURL, .responseTooLarge, .invalidResponse].contains(error.kind)
        case let error as HTTPError: return (502...504).contains(error.status.code)
        case let fault as Faults.Injected:
            switch fault.outcome {
            case .fail(let status): return (502...504).contains(status)
            case .reset: return true
            }
        default: return false
        }
    }

    /// The cursor was not where this page started: it was rewound, or another replica moved it.
    struct CursorMoved: Error {}

    /// Applies one event with its inbox entry and cursor move in one transaction, retrying a failing handler
    /// and dead-lettering it after `maxAttempts` failures of its own. A technical failure that passes (see
    /// `isTransient`) is retried until it passes and never dead-letters the event: an outage delays an
    /// event, it does not lose it (a chaos run once dead-lettered an event whose handler met an injected
    /// 503 five times in a row).
    func apply(_ event: StoredEvent, expected: Int64) async throws {
        let (name, handler, upcaster) = (self.name, self.handler, self.upcaster)
        var attempt = 0
        var failures = 0
        while true {
            attempt += 1
            do {
                try await database.write { connection in
                    try Self.record(connection, consumer: name, event: event, expected: expected) {
                        try handler(connection, try upcaster.upcast(event))
                        // Applied, the cursor not yet moved (fault point `consumer.after_apply`).
                        try Faults.shared.checkBlocking("consumer.after_apply", name)
                    }
                }
                return
            } catch let error as DatabaseError where error.code == .connectionLost || error.code == .timeout {
                throw error
            } catch let error as CursorMoved {
                throw error
            } catch let error as DeferredEvent {
                // Not now, and not a failure: stop here (the cursor stays before it) and read again later.
                throw error
            } catch {
                let transient = Self.isTransient(error)
                if !transient { failures += 1 }
                logger.warning(
                    "event handler failed",
                    metadata: [
                        "consumer": "\(name)", "event.seq": "\(event.seq)", "attempt": "\(attempt)", "transient": "\(transient)",
                        "error": "\(error)",
                    ]
                )
                if failures == maxAttempts {
                    let text = "\(error)"
                    try await database.write { connection in
                        try connection.execute(
                            "INSERT INTO dead_letters (id, consumer, seq, event, error, failed_at) VALUES ($1, $2, $3, $4, $5, $6)",
                            [
                                .text(event.id), .text(name), .integer(event.seq), .text(EventFeed.envelope(event)), .text(text),
                                .date(Date()),
                            ]
                        )
                        guard
                            try connection.execute(
                                "UPDATE consumer_cursors SET seq = $1 WHERE consumer = $2 AND seq = $3",
                                event.seq,
                                name,
                                expected
                            ) == 1
                        else { throw CursorMoved() }
                    }
                    Counter(label: "feed_dead_letters_total", dimensions: [("consumer", name)], factory: metrics).increment()
                    return
                }
                // A shutdown stops the retries: the event is tried again at the next start, never
                // dead-lettered for want of its backoffs.
                try await Task.sleep(for: Self.handlerRetry.backoff(attempt: attempt))
            }
        }
    }

    /// Inside a transaction: runs `effect` unless the event was consumed already, records it, and moves the
    /// cursor from `expected` to the event. A cursor that is not at `expected` any more (rewound, or moved by
    /// another replica) throws `CursorMoved` and the whole transaction, effect included, rolls back.
    static func record(
        _ connection: DatabaseConnection,
        consumer: String,
        event: StoredEvent,
        expected: Int64,
        _ effect: () throws -> Void
    ) throws {
        try takeEffect(connection, consumer: consumer, eventId: event.id, effect)
        try moveCursor(connection, consumer: consumer, from: expected, to: event.seq)
    }

    /// Inside a transaction: records the event in the inbox and runs `effect`, unless the inbox has it
    /// already. One statement for both the question and the record; an effect that throws takes its inbox
    /// entry with it when the transaction rolls back.
    static func takeEffect(_ connection: DatabaseConnection, consumer: String, eventId: String, _ effect: () throws -> Void) throws {
        let first = try connection.execute(
            "INSERT INTO consumed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            consumer,
            eventId
        )
        if first == 1 { try effect() }
    }

    /// Inside a transaction: moves the cursor from `expected` to `seq`, or throws `CursorMoved` when it is not
    /// at `expected` any more.
    static func moveCursor(_ connection: DatabaseConnection, consumer: String, from expected: Int64, to seq: Int64) throws {
        guard
            try connection.execute("UPDATE consumer_cursors SET seq = $1 WHERE consumer = $2 AND seq = $3", seq, consumer, expected) == 1
        else { throw CursorMoved() }
    }

    /// Applies a dead-lettered event again (operator's re-drive); on success it leaves the dead-letter table.
    public func redrive(deadLetter id: String) async throws -> Bool {
        let (name, handler, upcaster) = (self.name, self.handler, self.upcaster)
        let audit = AuditContext.current
        return try await database.write { connection in
            guard let row = try connection.queryOne("SELECT event FROM dead_letters WHERE id = $1 AND consumer = $2", id, name) else {
                return false
            }
            let text: String = try row.decode("event")
            guard let event = try EventFeed.parse(Array("{\"items\":[\(text)]}".utf8)).first else { return false }
            try Self.takeEffect(connection, consumer: name, eventId: event.id) { try handler(connection, try upcaster.upcast(event)) }
            try connection.execute("DELETE FROM dead_letters WHERE id = $1", id)
            try AuditTrail.append(connection, action: "consumer.redrive", target: "\(name)/\(id)", context: audit)
            return true
        }
    }
}
