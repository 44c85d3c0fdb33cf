import Contracts
import FoundationEssentials
import Messaging
import ServiceKit
import Storage

enum PaymentError: Error, Equatable {
    case unknownToken
    case notFound
    case voided
    case declined(insufficientFunds: Bool)
    case invalidState(String)
}

/// Payment methods and payments in SQL; each function runs inside the caller's transaction.
///
/// At rest, a token is kept only as its keyed index (`Keyring.index`): whoever reads the database cannot
/// use or recover it. Last four digits and expiry are sealed (`Keyring.seal`).
struct PaymentStore: Sendable {
    let keyring: Keyring

    static let last4Context = "payment_methods.last4"
    static let expiryContext = "payment_methods.expiry"

    /// The stored form of a token.
    func tokenIndex(_ token: String) -> String { keyring.index(token, purpose: "payment-token") }

    /// Columns `payment rotate-keys` brings under the active key; the sealed ones first, as the token index
    /// is the key of their rows, and legacy clear tokens (`pm_...`) become their index.
    func sealedColumns() -> [SealedColumn] {
        let index: @Sendable (String) throws -> String? = { [keyring] old in
            old.hasPrefix("pm_") ? keyring.index(old, purpose: "payment-token") : nil
        }
        return [
            .text("payment_methods", key: "token", column: "last4", keyring: keyring),
            .text("payment_methods", key: "token", column: "expiry", keyring: keyring),
            SealedColumn(table: "payment_methods", key: "token", column: "token", reseal: index),
            SealedColumn(table: "payments", key: "id", column: "token", reseal: index),
            Idempotency.sealedAnswers(keyring),
        ]
    }

    func saveMethod(
        _ connection: DatabaseConnection,
        token: String,
        checked: CardValidator.Checked,
        card: PaymentAPI.Card
    ) throws
        -> PaymentAPI.PaymentMethod
    {
        try connection.execute(
            """
            INSERT INTO payment_methods (token, brand, last4, expiry, issuer_profile, created_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            """,
            tokenIndex(token),
            checked.brand,
            keyring.seal(checked.last4, context: Self.last4Context),
            keyring.seal("\(card.expMonth)/\(card.expYear)", context: Self.expiryContext),
            checked.profile.rawValue,
            Date()
        )
        return PaymentAPI.PaymentMethod(
            token: token,
            brand: checked.brand,
            last4: checked.last4,
            expMonth: card.expMonth,
            expYear: card.expYear
        )
    }

    /// A stored method: the issuer's answer for the card, and what a payment made with it shows.
    struct Method {
        let profile: CardValidator.IssuerProfile
        /// Brand and sealed last four digits, for a row stored under the token's index: a payment joins its
        /// method by that index, so one still under its clear token shows neither (as `payment(_:id:)` does).
        let shown: (brand: String, sealedLast4: String)?
    }

    /// The method by its token's index, or by the clear token of a row `rotate-keys` has not reached yet.
    func method(_ connection: DatabaseConnection, token: String) throws -> Method? {
        let index = tokenIndex(token)
        guard
            let row = try connection.queryOne(
                "SELECT token, brand, last4, issuer_profile FROM payment_methods WHERE token IN ($1, $2)",
                index,
                token
            ), let profile = CardValidator.IssuerProfile(rawValue: try row.decode("issuer_profile"))
        else { return nil }
        let indexed = try row.decode("token", as: String.self) == index
        return Method(profile: profile, shown: indexed ? (try row.decode("brand"), try row.decode("last4")) : nil)
    }

    /// The card's issuer did not answer (a simulated outage): neither a refusal nor an answer to record, so
    /// not a `ProblemConvertible`. Thrown inside the command's transaction, it rolls it back; the route
    /// answers 503.
    struct IssuerUnavailable: Error {}

    /// Authorises the amount, or records a decline. A payment voided before its authorisation arrived stays voided.
    func authorize(_ connection: DatabaseConnection, _ command: PaymentAPI.Authorize) throws -> PaymentAPI.Payment {
        if let existing = try payment(connection, id: command.paymentId) {
            if existing.status == .voided { throw PaymentError.voided }
            return existing
        }
        guard let method = try method(connection, token: command.token) else { throw PaymentError.unknownToken }
        let profile = method.profile
        if profile == .unavailable { throw IssuerUnavailable() }
        let now = Date()
        let status: PaymentStatus
        switch profile {
        case .approve, .unavailable: status = .authorized
        case .decline, .insufficientFunds: status = .declined
        }
        try connection.execute(
            """
            INSERT INTO payments (id, order_id, token, amount_cents, currency, status, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
            """,
            command.paymentId,
            command.orderId,
            tokenIndex(command.token),
            command.amountCents,
            command.currency,
            status,
            now
        )
        // What `payment(_:id:)` would read back now, without reading it.
        let created = PaymentAPI.Payment(
            id: command.paymentId,
            orderId: command.orderId,
            status: status,
            amountCents: command.amountCents,
            currency: command.currency,
            brand: method.shown?.brand,
            last4: try method.shown.map { try keyring.open($0.sealedLast4, context: Self.last4Context) }
        )
        try publish(connection, created)
        if status == .declined { throw PaymentError.declined(insufficientFunds: profile == .insufficientFunds) }
        return created
    }

    /// Voids an authorisation. Voiding an unknown payment records it as voided and succeeds.
    func void(_ connection: DatabaseConnection, id: String) throws -> PaymentAPI.Payment {
        let now = Date()
        guard let existing = try payment(connection, id: id) else {
            try connection.execute(
                """
                INSERT INTO payments (id, order_id, token, amount_cents, currency, status, created_at, updated_at)
                VALUES ($1, '', NULL, 0, 'XXX', 'VOIDED', $2, $2)
                """,
                id,
                now
            )
            return try payment(connection, id: id)!
        }
        switch existing.status {
        case .voided, .declined: return existing
        case .authorized: break
        default: throw PaymentError.invalidState(existing.status.rawValue)
        }
        try connection.execute("UPDATE payments SET status = 'VOIDED', updated_at = $1 WHERE id = $2", now, id)
        let changed = existing.with(status: .voided)
        try publish(connection, changed)
        return changed
    }

    func capture(_ connection: DatabaseConnection, id: String) throws -> PaymentAPI.Payment {
        guard let existing = try payment(connection, id: id) else { throw PaymentError.notFound }
        switch existing.status {
        case .captured: return existing
        case .authorized: break
        default: throw PaymentError.invalidState(existing.status.rawValue)
        }
        try connection.execute("UPDATE payments SET status = 'CAPTURED', updated_at = $1 WHERE id = $2", Date(), id)
        let changed = existing.with(status: .captured)
        try publish(connection, changed)
        return changed
    }

    /// Returns captured money (the cancellation saga's step); refunding twice changes nothing.
    func refund(_ connection: DatabaseConnection, id: String) throws -> PaymentAPI.Payment {
        guard let existing = try payment(connection, id: id), !existing.orderId.isEmpty else { throw PaymentError.notFound }
        switch existing.status {
        case .refunded: return existing
        case .captured: break
        default: throw PaymentError.invalidState(existing.status.rawValue)
        }
        try connection.execute("UPDATE payments SET status = 'REFUNDED', updated_at = $1 WHERE id = $2", Date(), id)
        let changed = existing.with(status: .refunded)
        try publish(connection, changed)
        return changed
    }

    /// Records the payment's new status in the outbox, in the caller's transaction.
    private func publish(_ connection: DatabaseConnection, _ payment: PaymentAPI.Payment) throws {
        let event = PaymentAPI.PaymentChanged(
            paymentId: payment.id,
            orderId: payment.orderId,
            status: payment.status,
            amountCents: payment.amountCents,
            currency: payment.currency
        )
        try Outbox.append(connection, type: PaymentAPI.PaymentChanged.type, aggregateId: payment.id, data: event)
    }

    func payment(_ connection: DatabaseConnection, id: String) throws -> PaymentAPI.Payment? {
        try connection.queryOne(
            """
            SELECT p.id, p.order_id, p.status, p.amount_cents, p.currency, m.brand, m.last4
            FROM payments p LEFT JOIN payment_methods m ON m.token = p.token WHERE p.id = $1
            """,
            id
        ).map(payment(from:))
    }

    func payments(_ connection: DatabaseConnection, orderId: String?) throws -> [PaymentAPI.Payment] {
        try connection.query(
            """
            SELECT p.id, p.order_id, p.status, p.amount_cents, p.currency, m.brand, m.last4
            FROM payments p LEFT JOIN payment_methods m ON m.token = p.token
            WHERE ($1 = '' OR p.order_id = $1) AND p.order_id <> '' ORDER BY p.id LIMIT 1000
            """,
            orderId ?? ""
        ).map(payment(from:))
    }

    private func payment(from row: Row) throws -> PaymentAPI.Payment {
        PaymentAPI.Payment(
            id: try row.decode("id"),
            orderId: try row.decode("order_id"),
            status: try row.decode("status"),
            amountCents: try row.decode("amount_cents"),
            currency: try row.decode("currency"),
            brand: try row.decode("brand", as: String?.self),
            last4: try row.decode("last4", as: String?.self).map { try keyring.open($0, context: Self.last4Context) }
        )
    }
}

extension PaymentAPI.Payment {
    /// The payment after an UPDATE of its status only: what reading it back would give.
    fileprivate func with(status: PaymentStatus) -> PaymentAPI.Payment {
        var changed = self
        changed.status = status
        return changed
    }
}
