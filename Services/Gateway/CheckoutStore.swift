import FoundationEssentials
import HTTP
import ServiceKit
import Storage

/// What the gateway remembers of each (customer, Idempotency-Key): the body's fingerprint, the checkout
/// it started, and its final answer once there is one. The stored answers are also the system's record of
/// what customers were told, independent of the saga's database: a restore reads the 201s from here
/// (`BackupSet.acknowledgedCheckouts`) so that the reconciliation can name the acknowledged checkouts the
/// restore lost. Asking the saga instead of keeping them would lose that record.
struct CheckoutStore: Sendable {
    let database: any Database
    /// Seals the start command (payment token and address) at rest.
    let keyring: Keyring

    static let startCommandContext = "checkout_requests.start_command"

    /// What `gateway rotate-keys` brings under the active key.
    static func sealedColumns(_ keyring: Keyring) -> [SealedColumn] {
        [.text("checkout_requests", key: "checkout_id", column: "start_command", keyring: keyring)]
    }

    struct Record: Sendable {
        let fingerprint: String
        let checkoutId: String
        /// The saga's start command as JSON (no card data), to start the saga again if it never started.
        let startCommand: String?
        let answer: Response?
    }

    func find(customer: String, key: String) async throws -> Record? {
        let keyring = keyring
        return try await database.read { connection in
            try connection.queryOne(
                """
                SELECT fingerprint, checkout_id, start_command, status, content_type, body
                FROM checkout_requests WHERE customer_id = $1 AND idempotency_key = $2
                """,
                customer,
                key
            ).map { row in
                var answer: Response?
                if let status = try row.decode("status", as: Int?.self) {
                    answer = Response(
                        status: HTTPStatus(code: status),
                        headers: HTTPHeaders([
                            ("Content-Type", try row.decode("content_type", as: String.self)), ("Idempotent-Replay", "true"),
                        ]),
                        body: Array(try row.decode("body", as: String.self).utf8)
                    )
                }
                return Record(
                    fingerprint: try row.decode("fingerprint"),
                    checkoutId: try row.decode("checkout_id"),
                    startCommand: try row.decode("start_command", as: String?.self).map {
                        try keyring.open($0, context: Self.startCommandContext)
                    },
                    answer: answer
                )
            }
        }
    }

    /// Records the key before the saga starts; returns the existing record if another request got there first.
    func claim(customer: String, key: String, fingerprint: String, checkoutId: String, startCommand: String) async throws -> Record? {
        let keyring = keyring
        let sealed = keyring.seal(startCommand, context: Self.startCommandContext)
        return try await database.write { connection in
            if let row = try connection.queryOne(
                "SELECT fingerprint, checkout_id, start_command FROM checkout_requests WHERE customer_id = $1 AND idempotency_key = $2",
                customer,
                key
            ) {
                return Record(
                    fingerprint: try row.decode("fingerprint"),
                    checkoutId: try row.decode("checkout_id"),
                    startCommand: try row.decode("start_command", as: String?.self).map {
                        try keyring.open($0, context: Self.startCommandContext)
                    },
                    answer: nil
                )
            }
            try connection.execute(
                """
                INSERT INTO checkout_requests (customer_id, idempotency_key, fingerprint, checkout_id, start_command, created_at)
                VALUES ($1, $2, $3, $4, $5, $6)
                """,
                customer,
                key,
                fingerprint,
                checkoutId,
                sealed,
                Date()
            )
            return nil
        }
    }

    /// Keeps the final answer for replay.
    func finish(customer: String, key: String, answer: Response) async throws {
        try await database.write { connection in
            try connection.execute(
                "UPDATE checkout_requests SET status = $1, content_type = $2, body = $3 WHERE customer_id = $4 AND idempotency_key = $5",
                answer.status.code,
                answer.headers["Content-Type"] ?? "application/json",
                answer.bodyText,
                customer,
                key
            )
        }
    }
}
