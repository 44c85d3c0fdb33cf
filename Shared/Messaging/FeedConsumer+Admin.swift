import FoundationEssentials
import HTTP
import Storage

extension FeedConsumer {
    /// A dead-lettered event as operators see it.
    public struct DeadLetter: Codable, Sendable, Equatable {
        public var id: String
        public var seq: Int64
        public var error: String
        public var failedAt: String
    }

    /// Where the consumer stands: its cursor, how many events its inbox has taken effect for, and how many
    /// wait in its dead-letter table.
    public struct Status: Codable, Sendable, Equatable {
        public var consumer: String
        public var seq: Int64
        public var consumed: Int
        public var deadLetters: Int
    }

    /// `POST .../rewind` body: the sequence number to read after next (0 replays the whole feed).
    struct Rewind: Codable {
        var seq: Int64
    }

    public func status() async throws -> Status {
        let name = self.name
        return try await database.read { connection in
            let seq = try connection.queryOne("SELECT seq FROM consumer_cursors WHERE consumer = $1", name)?.decode("seq", as: Int64.self)
            func count(_ table: String) throws -> Int {
                Int(try connection.queryOne("SELECT COUNT(*) AS n FROM \(table) WHERE consumer = $1", name)!.decode("n", as: Int64.self))
            }
            return Status(consumer: name, seq: seq ?? 0, consumed: try count("consumed_events"), deadLetters: try count("dead_letters"))
        }
    }

    public func deadLetters(limit: Int = 100) async throws -> [DeadLetter] {
        let name = self.name
        return try await database.read { connection in
            try connection.query(
                "SELECT id, seq, error, failed_at FROM dead_letters WHERE consumer = $1 ORDER BY seq LIMIT $2",
                [.text(name), .integer(Int64(limit))]
            ).map {
                DeadLetter(
                    id: try $0.decode("id"),
                    seq: try $0.decode("seq"),
                    error: try $0.decode("error"),
                    failedAt: Timestamp.format(try $0.decode("failed_at", as: Date.self))
                )
            }
        }
    }

    /// Moves the cursor back (or forward) to `seq`: the consumer reads the feed again from there. Events it
    /// consumed before are recognised by their ids in the inbox and change nothing.
    public func rewind(to seq: Int64) async throws {
        let name = self.name
        let audit = AuditContext.current
        try await database.write { connection in
            if try connection.execute("UPDATE consumer_cursors SET seq = $1 WHERE consumer = $2", seq, name) == 0 {
                try connection.execute("INSERT INTO consumer_cursors (consumer, seq) VALUES ($1, $2)", name, seq)
            }
            try AuditTrail.append(connection, action: "consumer.rewind", target: "\(name)@\(seq)", context: audit)
        }
    }

    /// Operators' routes for these consumers (behind the service token, like every service route):
    /// `GET /v1/admin/consumers` (their names), `GET /v1/admin/consumers/{name}`, `GET .../dead-letters`, `POST .../dead-letters/{id}/redrive`,
    /// `POST .../rewind` with `{"seq": n}`.
    /// `authorize` runs first on each (the gateway requires its admin key there).
    public static func mountAdmin(
        _ consumers: [FeedConsumer],
        on router: inout Router,
        authorize: @escaping @Sendable () throws -> Void = {}
    ) {
        let byName = Dictionary(uniqueKeysWithValues: consumers.map { ($0.name, $0) })
        @Sendable func consumer(_ request: Request) throws -> FeedConsumer {
            try authorize()
            guard let found = byName[request.parameters["name"] ?? ""] else { throw HTTPError.notFound("No consumer with this name.") }
            return found
        }
        let names = consumers.map(\.name).sorted()
        router.get("/v1/admin/consumers") { _ in
            try authorize()
            return try Response.json(["items": names])
        }
        router.get("/v1/admin/consumers/{name}") { request in try Response.json(try await consumer(request).status()) }
        router.get("/v1/admin/consumers/{name}/dead-letters") { request in
            try Response.json(["items": try await consumer(request).deadLetters()])
        }
        router.post("/v1/admin/consumers/{name}/dead-letters/{id}/redrive") { request in
            guard try await consumer(request).redrive(deadLetter: request.parameters["id"] ?? "") else {
                throw HTTPError.notFound("No dead letter with this id.")
            }
            return Response(status: .noContent)
        }
        router.post("/v1/admin/consumers/{name}/rewind") { request in
            let target = try consumer(request)
            let body = try request.decode(Rewind.self)
            guard body.seq >= 0 else { throw HTTPError.validation("seq must be a non-negative integer.") }
            try await target.rewind(to: body.seq)
            return try Response.json(try await target.status())
        }
    }
}
