import Crypto
import FoundationEssentials
import Glibc
import Platform

/// Who is acting, and the request a change belongs to: set by the service kit for each request (the
/// caller's verified identity, or the person the gateway vouches for) and by commands for an operator.
public struct AuditContext: Sendable, Equatable {
    /// `customer:alice`, `operator:ana`, `service:saga`.
    public var actor: String
    public var traceID: String
    public var requestID: String

    public init(actor: String, traceID: String = "", requestID: String = "") {
        self.actor = actor
        self.traceID = traceID
        self.requestID = requestID
    }

    @TaskLocal public static var current: AuditContext?
}

/// A tamper-evident, append-only record of the state changes people make (each service's `audit_log`).
///
/// An entry is written in the transaction of the change it records. Each holds the SHA-256 of the entry
/// before it, and `audit_head` the last one's, so an edited, inserted or removed entry breaks the chain
/// at that entry and `verify` names it. The database refuses updates and deletes of `audit_log`
/// (triggers; on PostgreSQL the privileges are revoked too).
public enum AuditTrail {
    public struct Entry: Sendable, Equatable, Codable {
        public let seq: Int64
        public let at: String
        public let actor: String
        public let action: String
        public let target: String
        public let traceId: String
        public let requestId: String
        public let prevHash: String
        public let hash: String
    }

    /// Appends an entry for `action` on `target`, in the caller's write transaction, as `context`'s actor
    /// (`system` when nil). Capture `AuditContext.current` before the transaction: its closure runs on the
    /// database's own thread, where the request's task-local values are not set.
    @discardableResult
    public static func append(_ connection: DatabaseConnection, action: String, target: String, context: AuditContext?) throws -> Entry {
        let context = context ?? AuditContext(actor: "system")
        let lock = connection.dialect == .postgres ? " FOR UPDATE" : ""
        // The head row serialises appends: concurrent transactions chain one after the other.
        guard let head = try connection.queryOne("SELECT seq, hash FROM audit_head WHERE id = 1\(lock)") else {
            throw DatabaseError(.migration, "audit_head has no row: the audit migration did not run")
        }
        let seq: Int64 = try head.decode("seq") + 1
        let previous: String = try head.decode("hash")
        let at = timestamp(Date())
        let hash = digest(
            seq: seq,
            at: at,
            actor: context.actor,
            action: action,
            target: target,
            traceId: context.traceID,
            requestId: context.requestID,
            prevHash: previous
        )
        try connection.execute(
            """
            INSERT INTO audit_log (seq, at, actor, action, target, trace_id, request_id, prev_hash, hash)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            [
                .integer(seq), .text(at), .text(context.actor), .text(action), .text(target), .text(context.traceID),
                .text(context.requestID), .text(previous), .text(hash),
            ]
        )
        try connection.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", seq, hash)
        return Entry(
            seq: seq,
            at: at,
            actor: context.actor,
            action: action,
            target: target,
            traceId: context.traceID,
            requestId: context.requestID,
            prevHash: previous,
            hash: hash
        )
    }

    /// The hash of an entry: SHA-256 over its fields and the previous hash, each length-prefixed so no two
    /// different entries encode alike.
    public static func digest(
        seq: Int64,
        at: String,
        actor: String,
        action: String,
        target: String,
        traceId: String,
        requestId: String,
        prevHash: String
    ) -> String {
        var hasher = SHA256()
        for field in [String(seq), at, actor, action, target, traceId, requestId, prevHash] {
            let bytes = Array(field.utf8)
            hasher.update(data: Array("\(bytes.count):".utf8))
            hasher.update(data: bytes)
        }
        return Hex.encode(hasher.finalize())
    }

    /// `2026-11-30T17:05:09.123Z`, made by hand: an `ISO8601DateFormatter` per entry was most of an
    /// append's cost in the saga's profile.
    static func timestamp(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = time_t(seconds.rounded(.down))
        let millis = min(999, Int((seconds - Double(whole)) * 1000))
        var parts = tm()
        gmtime_r(&whole, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T\(pad(parts.tm_hour, 2)):"
            + "\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }

    /// Entries after `after`, oldest first, optionally only those of a target or an actor.
    public static func page(
        _ connection: DatabaseConnection,
        after: Int64 = 0,
        limit: Int = 500,
        target: String? = nil,
        actor: String? = nil
    ) throws -> [Entry] {
        try connection.query(
            """
            SELECT seq, at, actor, action, target, trace_id, request_id, prev_hash, hash FROM audit_log
            WHERE seq > $1 AND ($2 = '' OR target = $2) AND ($3 = '' OR actor = $3) ORDER BY seq LIMIT $4
            """,
            [.integer(after), .text(target ?? ""), .text(actor ?? ""), .integer(Int64(limit))]
        ).map(entry(from:))
    }

    static func entry(from row: Row) throws -> Entry {
        Entry(
            seq: try row.decode("seq"),
            at: try row.decode("at"),
            actor: try row.decode("actor"),
            action: try row.decode("action"),
            target: try row.decode("target"),
            traceId: try row.decode("trace_id"),
            requestId: try row.decode("request_id"),
            prevHash: try row.decode("prev_hash"),
            hash: try row.decode("hash")
        )
    }

    /// What `verify` found.
    public struct Verdict: Sendable, Equatable, CustomStringConvertible {
        public var entries = 0
        /// The first entry that does not follow from the one before it, and why.
        public var broken: (seq: Int64, reason: String)?

        public static func == (a: Verdict, b: Verdict) -> Bool {
            a.entries == b.entries && a.broken?.seq == b.broken?.seq && a.broken?.reason == b.broken?.reason
        }

        public var description: String {
            if let broken { return "chain broken at entry \(broken.seq): \(broken.reason) (\(entries) entries read)" }
            return "\(entries) entries, chain intact"
        }
    }

    /// Checks a run of entries in order: consecutive sequence numbers from 1, each hash recomputed, each
    /// entry's previous hash the hash of the entry before it.
    public struct Verifier: Sendable {
        private var expectedSeq: Int64 = 1
        private var previous = ""
        public private(set) var verdict = Verdict()

        public init() {}

        public mutating func feed(_ entry: Entry) {
            guard verdict.broken == nil else { return }
            verdict.entries += 1
            if entry.seq != expectedSeq {
                verdict.broken = (expectedSeq, entry.seq > expectedSeq ? "missing (the next entry is \(entry.seq))" : "out of order")
                return
            }
            if entry.prevHash != previous {
                verdict.broken = (entry.seq, "its previous hash is not the hash of entry \(entry.seq - 1)")
                return
            }
            let recomputed = AuditTrail.digest(
                seq: entry.seq,
                at: entry.at,
                actor: entry.actor,
                action: entry.action,
                target: entry.target,
                traceId: entry.traceId,
                requestId: entry.requestId,
                prevHash: entry.prevHash
            )
            if recomputed != entry.hash {
                verdict.broken = (entry.seq, "its content does not match its hash (edited)")
                return
            }
            previous = entry.hash
            expectedSeq += 1
        }

        /// The head row's position must be the last entry's: entries removed from the end show here.
        public mutating func finish(headSeq: Int64, headHash: String) {
            guard verdict.broken == nil else { return }
            if headSeq != expectedSeq - 1 || headHash != previous {
                verdict.broken = (expectedSeq, "entries after \(expectedSeq - 1) are missing (the head says \(headSeq))")
            }
        }
    }

    /// Verifies the whole chain of a database, page by page.
    public static func verify(_ database: any Database, pageSize: Int = 5000) async throws -> Verdict {
        var verifier = Verifier()
        var after: Int64 = 0
        while true {
            let cursor = after
            let entries = try await database.read { try AuditTrail.page($0, after: cursor, limit: pageSize) }
            for entry in entries { verifier.feed(entry) }
            guard let last = entries.last, entries.count == pageSize else { break }
            after = last.seq
        }
        let head = try await database.read { try $0.queryOne("SELECT seq, hash FROM audit_head WHERE id = 1") }
        verifier.finish(headSeq: try head?.decode("seq") ?? 0, headHash: try head?.decode("hash") ?? "")
        return verifier.verdict
    }
}
