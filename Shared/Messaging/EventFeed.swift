import Contracts
import FoundationEssentials
import HTTP
import Storage

/// `GET /v1/events?after=<seq>&limit=<n>&wait=<seconds>`: a service's outbox as a feed, in commit order,
/// each event in DESIGN's envelope `{seq, id, type, version, aggregateId, occurredAt, traceparent, data}`;
/// the page also carries `next` (the last seq, the next `after`), `head` (the newest seq in the feed) and
/// `afterId` (the id of the event at `after`, null when there is none), by which a consumer tells that the
/// feed is still the history it read, and not a database restored from a backup that reuses its seqs.
/// With `wait`, an empty answer is held (long poll) until an event arrives or the wait ends.
public struct EventFeed: Sendable {
    public let database: any Database
    /// A standby that may serve the feed (a consumer reads events a little later, never out of order).
    public let replica: ReadReplica?
    /// How often a held request looks for new events.
    public let pollInterval: Duration

    public init(database: any Database, replica: ReadReplica? = nil, pollInterval: Duration = .milliseconds(20)) {
        self.database = database
        self.replica = replica
        self.pollInterval = pollInterval
    }

    public func mount(on router: inout Router) {
        let feed = self
        router.get("/v1/events") { request in try await feed.respond(request) }
    }

    /// Answers a feed request (for a service that serves several feeds under its own routes).
    public func respond(_ request: Request) async throws -> Response {
        try await Faults.shared.check("outbox.before_page", "\(request.method) \(request.path)")
        let query = request.query
        guard let after = Int64(query["after"] ?? "0"), after >= 0 else {
            throw HTTPError.validation("after must be a non-negative integer.")
        }
        guard let limit = Int(query["limit"] ?? "100"), (1...1000).contains(limit) else {
            throw HTTPError.validation("limit must be 1 to 1000.")
        }
        guard let wait = Double(query["wait"] ?? "0"), (0...30).contains(wait) else {
            throw HTTPError.validation("wait must be 0 to 30 seconds.")
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64(wait * 1000))
        // A held request looks for events only; the page it answers is read whole, from one snapshot. A
        // shutdown ends the wait at once (the reader asks again, of this service's successor).
        while ContinuousClock.now < deadline, !request.drain.isDraining,
            try await read(after: after, limit: limit, whole: false).events.isEmpty
        {
            try await EventLoop.sleep(for: pollInterval)
        }
        let page = try await read(after: after, limit: limit, whole: true)
        var body = "{\"items\":[" + page.events.map(Self.envelope).joined(separator: ",") + "]"
        body += ",\"next\":\(page.events.last.map { "\"\($0.seq)\"" } ?? "null"),\"head\":\(page.head ?? 0)"
        body += ",\"afterId\":\(page.afterId.map(JSONText.quote) ?? "null")}"
        return Response.json(text: Array(body.utf8))
    }

    /// Events after `after` and, when `whole`, the head and the id of the event at `after`, in one read: on
    /// the standby when it may serve it and holds the event at `after` (a standby behind the reader's cursor
    /// would look like a feed restored from a backup), else on the primary.
    func read(after: Int64, limit: Int, whole: Bool) async throws -> Page {
        // `locate`: whether to look up the event at `after` for a page that is not whole. Only a standby needs
        // it (an empty page from a standby behind the reader's cursor must not pass for a quiet feed); on the
        // primary an idle long poll stays one query.
        func body(locate: Bool) -> @Sendable (DatabaseConnection) throws -> Page {
            { connection in
                let events = try Outbox.events(connection, after: after, limit: limit)
                let afterId =
                    after > 0 && (whole || (locate && events.isEmpty)) ? try Outbox.eventId(connection, seq: after) : nil
                guard whole else { return Page(events: events, head: nil, afterId: afterId) }
                // The newest seq, so a consumer knows how far behind it is (its lag metric). A page that is not
                // full held every event there was when it was read: its last seq is the head.
                var head = events.last?.seq ?? 0
                if events.isEmpty || events.count == limit { head = max(head, try Outbox.head(connection)) }
                return Page(events: events, head: head, afterId: afterId)
            }
        }
        if let replica {
            let (page, _) = try await replica.read(body(locate: true))
            if after == 0 || page.afterId != nil || (!whole && !page.events.isEmpty) { return page }
        }
        return try await database.read(body(locate: false))
    }

    static func envelope(_ event: StoredEvent) -> String {
        var out = "{\"seq\":\(event.seq),\"id\":\(JSONText.quote(event.id)),\"type\":\(JSONText.quote(event.type)),"
        out += "\"version\":\(event.version),\"aggregateId\":\(JSONText.quote(event.aggregateId)),"
        out += "\"occurredAt\":\(JSONText.quote(Timestamp.format(event.occurredAt))),"
        out += "\"traceparent\":\(event.traceparent.map(JSONText.quote) ?? "null"),\"data\":\(event.data)}"
        return out
    }

    /// Parses a feed page (what a consumer reads).
    public static func parse(_ body: [UInt8]) throws -> [StoredEvent] {
        try parsePage(body).events
    }

    /// A feed page as a consumer reads it.
    public struct Page: Sendable {
        public var events: [StoredEvent]
        /// The feed's newest seq, when the page carries it.
        public var head: Int64?
        /// The id of the event at the `after` asked for: nil when the feed has no event there.
        public var afterId: String?
    }

    /// Parses a feed page with `JSONScanner`: each event's `data` is kept as the raw text the producer
    /// wrote, not parsed and written again (`JSONSerialization` both ways was 8 % of the order service's CPU,
    /// which reads three feeds). Members it does not know are stepped over (checked all the same).
    public static func parsePage(_ body: [UInt8]) throws -> Page {
        var scanner = JSONScanner(body)
        var page = Page(events: [], head: nil, afterId: nil)
        var sawItems = false
        do {
            try scanner.object { scanner, key in
                switch key {
                case "items":
                    sawItems = true
                    try scanner.array { scanner in page.events.append(try event(&scanner)) }
                case "head":
                    if try !scanner.null() { page.head = try scanner.integer() }
                case "afterId":
                    if try !scanner.null() { page.afterId = try scanner.string() }
                default:
                    try scanner.skipValue()
                }
            }
            guard sawItems, scanner.atEnd() else { throw FeedError.malformedPage }
        } catch is JSONScanner.ScanError {
            throw FeedError.malformedPage
        }
        return page
    }

    private static func event(_ scanner: inout JSONScanner) throws -> StoredEvent {
        var seq: Int64?
        var id: String?
        var type: String?
        var version: Int64?
        var aggregate: String?
        var occurred: Date?
        var traceparent: String?
        var data: String?
        try scanner.object { scanner, key in
            switch key {
            case "seq": seq = try scanner.integer()
            case "id": id = try scanner.string()
            case "type": type = try scanner.string()
            case "version": version = try scanner.integer()
            case "aggregateId": aggregate = try scanner.string()
            case "occurredAt": occurred = Timestamp.parse(try scanner.string())
            case "traceparent": traceparent = try scanner.null() ? nil : try scanner.string()
            case "data": data = scanner.text(try scanner.skipValue())
            default: try scanner.skipValue()
            }
        }
        guard let seq, let id, let type, let version, let aggregate, let occurred, let data, let small = Int(exactly: version) else {
            throw FeedError.malformedPage
        }
        return StoredEvent(
            seq: seq,
            id: id,
            type: type,
            version: small,
            aggregateId: aggregate,
            occurredAt: occurred,
            traceparent: traceparent,
            data: data
        )
    }
}

public enum FeedError: Error, Equatable {
    case malformedPage
    case unavailable(Int)
}
