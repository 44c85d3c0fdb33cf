import Contracts
import Crypto
import FoundationEssentials
import HTTP
import Platform
import Storage

/// A domain error that a service's routes know how to show as a problem document (status and code).
public protocol ProblemConvertible: Error {
    var problem: HTTPError { get }
}

/// Runs `body`, turning a domain refusal into its problem document (an `HTTPError`).
public func mappingProblems<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ProblemConvertible {
        throw error.problem
    }
}

/// Participant-side idempotency: a command's key is recorded with its answer in the same transaction as
/// its effect, so a repeated command changes nothing and gets the first answer back.
///
/// Each service that takes commands has an `idempotency_keys` table (see its first migration).
public enum Idempotency {
    /// The `Idempotency-Key` of a command, required: 400 `missing_idempotency_key` without one.
    public static func key(of request: Request) throws -> String {
        guard let key = request.headers["Idempotency-Key"], !key.isEmpty, key.count <= 200 else {
            throw HTTPError.badRequest("The Idempotency-Key header is required.", code: "missing_idempotency_key")
        }
        return key
    }

    /// The fingerprint of a request body, to tell a retry from a different command under the same key:
    /// a keyed HMAC when the service has a keyring (its commands carry tokens or personal data, which a
    /// plain hash would let anyone holding the database file confirm by guessing), else SHA-256.
    public static func fingerprint(_ body: [UInt8], keyring: Keyring? = nil) -> String {
        if let keyring { return keyring.index(String(decoding: body, as: UTF8.self), purpose: "idempotency-fingerprint") }
        return Hex.encode(SHA256.hash(data: Data(body)))
    }

    /// The context of sealed answers in `idempotency_keys.body`.
    public static let answerContext = "idempotency_keys.body"

    /// The sealed answers of a service's `idempotency_keys`, for `rotate-keys`.
    public static func sealedAnswers(_ keyring: Keyring) -> SealedColumn {
        .text("idempotency_keys", key: "key", column: "body", keyring: keyring)
    }

    /// Inside a write transaction: the recorded answer for `key`, or runs `effect` and records its answer.
    /// A refusal thrown by `effect` (an `HTTPError` or `ProblemConvertible`) is recorded as its problem
    /// document; the effect checks before it writes, so nothing else of it is kept.
    /// A reused key with another body answers 422 `idempotency_key_reused`.
    /// `bucket`: for a sharded service (the order service), the bucket the key moves with, written with the
    /// answer (and given to a key recorded before buckets existed when it is replayed).
    public static func perform(
        _ connection: DatabaseConnection,
        key: String,
        body: [UInt8],
        keyring: Keyring? = nil,
        audit: AuditedAction? = nil,
        bucket: Int? = nil,
        _ effect: () throws -> Response
    ) throws -> Response {
        let fingerprint = fingerprint(body, keyring: keyring)
        if let row = try connection.queryOne("SELECT fingerprint, status, content_type, body FROM idempotency_keys WHERE key = $1", key) {
            if let bucket {
                try connection.execute("UPDATE idempotency_keys SET bucket = $1 WHERE key = $2 AND bucket IS NULL", bucket, key)
            }
            guard try row.decode("fingerprint", as: String.self) == fingerprint else {
                return HTTPError(.unprocessableContent, code: "idempotency_key_reused", detail: "This key was used for another request.")
                    .response
            }
            var headers = HTTPHeaders([("Content-Type", try row.decode("content_type", as: String.self))])
            headers.add(name: "Idempotent-Replay", value: "true")
            return Response(
                status: HTTPStatus(code: try row.decode("status", as: Int.self)),
                headers: headers,
                body: Array(try open(try row.decode("body", as: String.self), keyring: keyring).utf8)
            )
        }
        let response: Response
        do {
            response = try effect()
        } catch let error as HTTPError {
            response = error.response
        } catch let error as ProblemConvertible {
            response = error.problem.response
        }
        // The change is made (not refused, not a replay): its audit entry joins the same transaction.
        if let audit, (200..<300).contains(response.status.code) {
            try AuditTrail.append(connection, action: audit.action, target: audit.target, context: audit.context)
        }
        try connection.execute(
            bucket == nil
                ? "INSERT INTO idempotency_keys (key, fingerprint, status, content_type, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
                : "INSERT INTO idempotency_keys (key, fingerprint, status, content_type, body, created_at, bucket) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                .text(key), .text(fingerprint), .integer(Int64(response.status.code)),
                .text(response.headers["Content-Type"] ?? "application/json"),
                .text(keyring.map { $0.seal(response.bodyText, context: answerContext) } ?? response.bodyText), .date(Date()),
            ] + (bucket.map { [DatabaseValue.integer(Int64($0))] } ?? [])
        )
        // Effect and answer written, not committed: a crash here loses both, a failure rolls both back.
        try Faults.shared.checkBlocking("participant.before_commit", key)
        return response
    }

    private static func open(_ stored: String, keyring: Keyring?) throws -> String {
        guard let keyring else { return stored }
        return try keyring.open(stored, context: answerContext)
    }
}

extension Database {
    /// Runs a participant command once per `Idempotency-Key`: in one write transaction, the recorded answer
    /// for the key, or `effect` with its answer recorded beside its writes.
    /// With `keyring`, the fingerprint is keyed and the recorded answer sealed. With `audit`, a change that
    /// is made (2xx, not a replay) is written to the audit trail in the same transaction, as the request's actor.
    public func command(
        _ request: Request,
        keyring: Keyring? = nil,
        audit: (action: String, target: String)? = nil,
        _ effect: @escaping @Sendable (DatabaseConnection) throws -> Response
    ) async throws -> Response {
        let key = try Idempotency.key(of: request)
        let body = request.body
        let audited = audit.map { AuditedAction(action: $0.action, target: $0.target, context: AuditContext.current) }
        return try await write { connection in
            try Idempotency.perform(connection, key: key, body: body, keyring: keyring, audit: audited) { try effect(connection) }
        }
    }
}

/// An audit entry to write with a command's change.
public struct AuditedAction: Sendable {
    public let action: String
    public let target: String
    public let context: AuditContext?

    public init(action: String, target: String, context: AuditContext?) {
        self.action = action
        self.target = target
        self.context = context
    }
}
