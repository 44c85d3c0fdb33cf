import Crypto
import FoundationEssentials
import Platform

/// One numbered schema change. Forward only: once applied, its SQL must never change.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// SHA-256 of the SQL, recorded when applied and compared at every start.
    public var checksum: String {
        Hex.encode(SHA256.hash(data: Data(sql.utf8)))
    }

    /// Loads `NNN_name.sql` files from a folder (see `MigrationFiles`).
    public static func load(from directory: URL, dialect: SQLDialect) throws -> [Migration] {
        try MigrationFiles(directory: directory).migrations(for: dialect)
    }
}

/// A service's migration files, `NNN_name.sql`, by file name: read from its `Migrations` folder, or carried in
/// its executable (SwiftPM's `embedInCode` resources), so a service needs no folder beside it to migrate.
public struct MigrationFiles: Sendable {
    /// File name and SQL text, in any order.
    public let files: [File]

    public struct File: Sendable, Equatable {
        public let name: String
        public let sql: String

        public init(name: String, sql: String) {
            self.name = name
            self.sql = sql
        }
    }

    /// Files named with the bytes SwiftPM embedded for them (`PackageResources.<mangled name>`, from
    /// `.embedInCode` resources): each service lists its files in its `Embedded.swift`, because SwiftPM's names
    /// are not the files' (`001_init.sqlite.sql` is `_01_init_sqlite_sql`). `EmbeddedResourceTests` compares
    /// every list with its folder. Embedded, the executable runs with no resource folder beside it and without
    /// the accessor SwiftPM writes for bundles, which needs the full Foundation's `Bundle`.
    public init(embedded: KeyValuePairs<String, [UInt8]>) {
        files = embedded.map { File(name: $0.key, sql: String(decoding: $0.value, as: UTF8.self)) }
    }

    /// The `.sql` files of a folder.
    public init(directory: URL) throws {
        files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.map {
            File(name: $0, sql: try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8))
        }
    }

    /// The migrations for `dialect`, by version. A file named `NNN_name.sqlite.sql` or `NNN_name.postgres.sql`
    /// applies to that dialect only and takes the place of a common one.
    public func migrations(for dialect: SQLDialect) throws -> [Migration] {
        var byVersion: [Int: (specific: Bool, migration: Migration)] = [:]
        for file in files where file.name.hasSuffix(".sql") {
            var stem = String(file.name.dropLast(4))
            var specific = false
            for other in [SQLDialect.sqlite, .postgres] where stem.hasSuffix(".\(other.rawValue)") {
                guard other == dialect else {
                    stem = ""
                    break
                }
                stem = String(stem.dropLast(other.rawValue.count + 1))
                specific = true
            }
            guard !stem.isEmpty else { continue }
            let parts = stem.split(separator: "_", maxSplits: 1)
            guard let version = Int(parts[0]) else {
                throw DatabaseError(.migration, "migration file \(file.name) does not start with a number")
            }
            let migration = Migration(version: version, name: parts.count > 1 ? String(parts[1]) : stem, sql: file.sql)
            if let existing = byVersion[version] {
                if existing.specific == specific {
                    throw DatabaseError(.migration, "two migrations numbered \(version)")
                }
                if existing.specific { continue }
            }
            byVersion[version] = (specific, migration)
        }
        return byVersion.values.map(\.migration).sorted { $0.version < $1.version }
    }
}

/// The state of one migration in a database.
public struct MigrationStatus: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let appliedAt: Date?
}

/// Applies migrations in order, each recorded in `schema_migrations` with its checksum.
///
/// All of it happens in one transaction under a lock (`BEGIN IMMEDIATE` on SQLite, an advisory lock on
/// PostgreSQL), so replicas starting together apply each migration once. A migration whose SQL changed
/// since it was applied, or an applied one missing from the list, stops the start with a clear message.
public struct Migrator: Sendable {
    public let migrations: [Migration]

    public init(_ migrations: [Migration]) {
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// Applies what is pending; returns the versions applied now.
    @discardableResult
    public func migrate(_ database: any Database) async throws -> [Int] {
        let migrations = self.migrations
        return try await database.write { connection in
            try Migrator.lockAndCreateTable(connection)
            let applied = try Migrator.applied(connection)
            try Migrator.verify(applied, against: migrations)
            var done: [Int] = []
            for migration in migrations where applied[migration.version] == nil {
                try connection.executeScript(migration.sql)
                try connection.execute(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                    [.integer(Int64(migration.version)), .text(migration.name), .text(migration.checksum), .text(Timestamp.format(Date()))]
                )
                done.append(migration.version)
            }
            return done
        }
    }

    /// Each known migration with the time it was applied, if it was.
    public func status(_ database: any Database) async throws -> [MigrationStatus] {
        let migrations = self.migrations
        return try await database.write { connection in
            try Migrator.lockAndCreateTable(connection)
            let applied = try Migrator.applied(connection)
            try Migrator.verify(applied, against: migrations)
            return migrations.map { MigrationStatus(version: $0.version, name: $0.name, appliedAt: applied[$0.version]?.appliedAt) }
        }
    }

    /// Whether every migration is applied (readiness).
    public func isUpToDate(_ database: any Database) async -> Bool {
        let versions = migrations.map(\.version)
        let applied = try? await database.read { connection in
            try connection.query("SELECT version FROM schema_migrations", []).compactMap { Int.decode($0["version"]) }
        }
        guard let applied else { return false }
        return Set(versions).isSubset(of: Set(applied))
    }

    private static func lockAndCreateTable(_ connection: DatabaseConnection) throws {
        if connection.dialect == .postgres {
            // Held until the transaction ends: https://www.postgresql.org/docs/15/functions-admin.html
            _ = try connection.query("SELECT pg_advisory_xact_lock(7243533) AS locked", [])
        }
        try connection.executeScript(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )
            """
        )
    }

    private struct Applied {
        let checksum: String
        let appliedAt: Date?
    }

    private static func applied(_ connection: DatabaseConnection) throws -> [Int: Applied] {
        var result: [Int: Applied] = [:]
        for row in try connection.query("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version", []) {
            let version: Int = try row.decode("version")
            result[version] = Applied(checksum: try row.decode("checksum", as: String.self), appliedAt: Date.decode(row["applied_at"]))
        }
        return result
    }

    private static func verify(_ applied: [Int: Applied], against migrations: [Migration]) throws {
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for (version, record) in applied.sorted(by: { $0.key < $1.key }) {
            guard let migration = known[version] else {
                throw DatabaseError(.migration, "migration \(version) is applied in the database but unknown to this build")
            }
            guard migration.checksum == record.checksum else {
                throw DatabaseError(
                    .migration,
                    "migration \(version) (\(migration.name)) was changed after it was applied: its checksum differs; add a new migration instead"
                )
            }
        }
    }
}
