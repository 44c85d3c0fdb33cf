import FoundationEssentials
import ServiceKit
import Storage

/// What the gateway remembers of each (customer, Idempotency-Key): the body's fingerprint, and the checkout
/// it started with the command that starts it. Not its answer: a repeated request asks the saga service,
/// which holds the checkout's outcome. (Versions before 2026-12 also kept the final answer in `status`,
/// `content_type` and `body`; those columns are left as they are, so such a version still runs on this
/// schema, and when it finds no answer there it asks the saga as well.)
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
    }

    static let select =
        "SELECT fingerprint, checkout_id, start_command FROM checkout_requests WHERE customer_id = $1 AND idempotency_key = $2"

    func find(customer: String, key: String) async throws -> Record? {
        let keyring = keyring
        return try await database.read { connection in try Self.record(connection, customer: customer, key: key, keyring: keyring) }
    }

    /// Records the key before the saga starts; returns the existing record if another request got there first.
    func claim(customer: String, key: String, fingerprint: String, checkoutId: String, startCommand: String) async throws -> Record? {
        let keyring = keyring
        let sealed = keyring.seal(startCommand, context: Self.startCommandContext)
        return try await database.write { connection in
            if let record = try Self.record(connection, customer: customer, key: key, keyring: keyring) { return record }
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

    private static func record(_ connection: any DatabaseConnection, customer: String, key: String, keyring: Keyring) throws -> Record? {
        try connection.queryOne(select, customer, key).map { row in
            Record(
                fingerprint: try row.decode("fingerprint"),
                checkoutId: try row.decode("checkout_id"),
                startCommand: try row.decode("start_command", as: String?.self).map {
                    try keyring.open($0, context: startCommandContext)
                }
            )
        }
    }
}
