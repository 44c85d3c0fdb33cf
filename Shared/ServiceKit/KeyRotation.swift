import FoundationEssentials
import Logging
import Storage

/// A column of sealed values (`Keyring`), keyed by a text primary key, and how to re-seal one value.
public struct SealedColumn: Sendable {
    public let table: String
    public let key: String
    public let column: String
    /// The value to store instead of `old`, or nil when `old` is sealed under the active key already.
    public let reseal: @Sendable (String) throws -> String?

    public init(table: String, key: String, column: String, reseal: @escaping @Sendable (String) throws -> String?) {
        self.table = table
        self.key = key
        self.column = column
        self.reseal = reseal
    }

    /// A column holding one sealed text each, with `table.column` as its context.
    public static func text(_ table: String, key: String, column: String, keyring: Keyring) -> SealedColumn {
        let context = "\(table).\(column)"
        return SealedColumn(table: table, key: key, column: column) { try keyring.resealed($0, context: context) }
    }
}

/// Re-seals every value of some columns under the active key, in small write transactions, while the
/// service runs: each row is replaced only if it still holds the value read (compare and set), so a
/// concurrent write by the service is never undone; such a row is looked at again on the next pass.
/// Clear text written before encryption is sealed the same way.
public enum KeyRotation {
    public struct Report: Sendable, Equatable {
        public var examined = 0
        public var resealed = 0
        public var passes = 0
        public init() {}
    }

    public static func run(
        _ database: any Database,
        columns: [SealedColumn],
        batchSize: Int = 500,
        progress: @Sendable (String) -> Void = { _ in }
    ) async throws -> Report {
        var report = Report()
        for column in columns {
            var pass = 0
            while true {
                pass += 1
                report.passes += 1
                let (examined, resealed, missed) = try await onePass(database, column, batchSize: batchSize)
                report.examined += examined
                report.resealed += resealed
                progress("\(column.table).\(column.column): pass \(pass), \(examined) rows, \(resealed) re-sealed")
                if missed == 0 { break }
                guard pass < 100 else { throw KeyRotationError(message: "\(column.table).\(column.column) keeps changing under rotation") }
            }
        }
        return report
    }

    private static func onePass(_ database: any Database, _ column: SealedColumn, batchSize: Int) async throws -> (Int, Int, Int) {
        var afterKey = ""
        var examined = 0
        var resealed = 0
        var missed = 0
        while true {
            let after = afterKey
            let (last, count, changed, lost) = try await database.write { connection -> (String?, Int, Int, Int) in
                let rows = try connection.query(
                    """
                    SELECT \(column.key) AS k, \(column.column) AS v FROM \(column.table)
                    WHERE \(column.key) > $1 AND \(column.column) IS NOT NULL ORDER BY \(column.key) LIMIT $2
                    """,
                    after,
                    batchSize
                )
                var changed = 0
                var lost = 0
                var last: String?
                for row in rows {
                    let key: String = try row.decode("k")
                    let value: String = try row.decode("v")
                    last = key
                    guard let sealed = try column.reseal(value) else { continue }
                    let updated = try connection.execute(
                        "UPDATE \(column.table) SET \(column.column) = $1 WHERE \(column.key) = $2 AND \(column.column) = $3",
                        sealed,
                        key,
                        value
                    )
                    if updated == 1 { changed += 1 } else { lost += 1 }
                }
                return (last, rows.count, changed, lost)
            }
            examined += count
            resealed += changed
            missed += lost
            guard let last, count == batchSize else { break }
            afterKey = last
        }
        return (examined, resealed, missed)
    }

    /// How many stored values are not sealed under the active key (0 once rotation is done).
    public static func remaining(_ database: any Database, columns: [SealedColumn]) async throws -> Int {
        var count = 0
        for column in columns {
            count += try await database.read { connection in
                try connection.query("SELECT \(column.column) AS v FROM \(column.table) WHERE \(column.column) IS NOT NULL").filter {
                    try column.reseal(try $0.decode("v")) != nil
                }.count
            }
        }
        return count
    }
}

public struct KeyRotationError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// `<service> rotate-keys [--batch N]` (`RotateKeys`): re-seals the service's stored values under
/// `ENCRYPTION_ACTIVE_KEY` while the service runs, then prints what it did. Needs `DATABASE_URL` and the
/// keys, no secret or port.
public enum KeyRotationCommand {
    public static func run(
        _ service: String,
        defaultURL: String,
        migrations: MigrationFiles,
        batch: Int,
        environment: Environment = Environment(),
        columns: @Sendable (Keyring) -> [SealedColumn]
    ) async throws {
        let keyring = try Keyring(environment: environment, service: service)
        let logger = Logger(label: service)
        let (database, _) = try await ServiceRuntime.openDatabase(
            environment: environment,
            logger: logger,
            defaultURL: defaultURL,
            migrations: migrations
        )
        let start = ContinuousClock.now
        let report = try await KeyRotation.run(database, columns: columns(keyring), batchSize: batch) { print($0) }
        let left = try await KeyRotation.remaining(database, columns: columns(keyring))
        // Who rotated, to which key, on the service's own audit trail.
        let operatorName = try environment.optional("OPERATOR", as: String.self) ?? environment.values["USER"] ?? "unknown"
        let audit = AuditContext(actor: "operator:\(operatorName)")
        try await database.write { connection in
            try AuditTrail.append(connection, action: "keys.rotate", target: "key:\(keyring.activeKeyID)", context: audit)
        }
        await database.close()
        print(
            "rotated to key \(keyring.activeKeyID): \(report.resealed) values re-sealed of \(report.examined) examined in "
                + "\(ContinuousClock.now - start); \(left) left under other keys"
        )
        if left > 0 { throw KeyRotationError(message: "\(left) values are still under other keys (written meanwhile); run again") }
    }
}
