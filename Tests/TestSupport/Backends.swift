import Foundation
import Storage

/// The storage backends a suite runs against.
public enum Backend: String, Sendable, CaseIterable {
    case sqliteFile = "SQLite file"
    case sqliteMemory = "SQLite in memory"
    case postgres = "PostgreSQL"

    /// Every backend this machine can run; PostgreSQL only where its server binaries are installed.
    public static var available: [Backend] {
        PostgresCluster.isAvailable ? allCases : [.sqliteFile, .sqliteMemory]
    }

    /// A fresh, empty database URL of this kind.
    public func makeURL() async throws -> String {
        switch self {
        case .sqliteFile: return "sqlite://\(temporaryDirectory())/test.db"
        case .sqliteMemory: return "sqlite::memory:"
        case .postgres: return try await offPool { try PostgresCluster.shared() }.createDatabase()
        }
    }

    /// Opens a fresh database, runs `body`, and closes it.
    public func withDatabase<T>(poolSize: Int = 4, _ body: (any Database) async throws -> T) async throws -> T {
        let database = try await open(url: try DatabaseURL(try await makeURL()), poolSize: poolSize)
        do {
            let result = try await body(database)
            await database.close()
            return result
        } catch {
            await database.close()
            throw error
        }
    }
}

/// A new empty folder under the system's temporary directory, removed when the test process exits.
public func temporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("sagamart-test-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    Cleanup.removeAtExit(path)
    return path
}

/// The audit trail's migration, as every service runs it (one text; the payment service's copy), for
/// tests that make their own tables.
public func auditTrailMigration(_ dialect: SQLDialect) throws -> String {
    let file = dialect == .postgres ? "004_audit.postgres.sql" : "004_audit.sqlite.sql"
    return try String(contentsOfFile: FileManager.default.currentDirectoryPath + "/Services/Payment/Migrations/" + file, encoding: .utf8)
}
