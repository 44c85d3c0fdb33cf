import FoundationEssentials
import Logging
import Platform

/// The SQL dialect of a backend, for the few statements that differ.
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres
}

/// Transaction isolation on PostgreSQL. SQLite transactions are always serializable.
public enum IsolationLevel: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// A connection as a transaction or read closure sees it. Synchronous: it runs on the connection's own
/// thread, never on Swift's cooperative pool. Parameters are written `$1`, `$2`, ... on both backends.
public protocol DatabaseConnection {
    var dialect: SQLDialect { get }
    /// Runs a statement and returns the number of rows it changed.
    @discardableResult
    func execute(_ sql: String, _ parameters: [DatabaseValue]) throws -> Int
    /// Runs a query and returns its rows.
    func query(_ sql: String, _ parameters: [DatabaseValue]) throws -> [Row]
    /// Runs several statements separated by semicolons, with no parameters (migrations).
    func executeScript(_ sql: String) throws
}

extension DatabaseConnection {
    @discardableResult
    public func execute(_ sql: String, _ parameters: DatabaseValueConvertible...) throws -> Int {
        try execute(sql, parameters.map(\.databaseValue))
    }

    public func query(_ sql: String, _ parameters: DatabaseValueConvertible...) throws -> [Row] {
        try query(sql, parameters.map(\.databaseValue))
    }

    /// The first row of a query, if any.
    public func queryOne(_ sql: String, _ parameters: DatabaseValueConvertible...) throws -> Row? {
        try query(sql, parameters.map(\.databaseValue)).first
    }
}

/// A service's database. `write` runs its closure in a transaction on the writer side and commits when
/// it returns (rolls back when it throws); `read` runs on a reader. Closures are synchronous and run
/// on threads of the database's own, so blocking C calls never occupy the cooperative pool.
public protocol Database: Sendable {
    var dialect: SQLDialect { get }
    @discardableResult
    func write<T: Sendable>(isolation: IsolationLevel, _ body: @escaping @Sendable (DatabaseConnection) throws -> T) async throws -> T
    @discardableResult
    func read<T: Sendable>(_ body: @escaping @Sendable (DatabaseConnection) throws -> T) async throws -> T
    /// Whether the database answers a trivial query now.
    func ping() async -> Bool
    /// Closes every connection; later calls fail with `.closed`.
    func close() async
}

extension Database {
    @discardableResult
    public func write<T: Sendable>(_ body: @escaping @Sendable (DatabaseConnection) throws -> T) async throws -> T {
        try await write(isolation: .readCommitted, body)
    }

    public func ping() async -> Bool {
        (try? await read { try $0.query("SELECT 1 AS one", []) }) != nil
    }
}

/// Where a service's data lives, parsed from `DATABASE_URL`.
public enum DatabaseURL: Sendable, Equatable {
    /// `text` (a database URL) without its password, for output an operator may paste somewhere.
    public static func redacted(_ text: String) -> String {
        text.replacing(#/:[^:@\/]+@/#, with: ":***@")
    }

    case sqlite(path: String)
    case sqliteMemory
    case postgres(String)

    /// Parses `sqlite:///abs/path.db`, `sqlite://relative.db`, `sqlite:relative.db`, `sqlite::memory:` and
    /// `postgres://user:pass@host:port/db` (or `postgresql://`).
    public init(_ text: String) throws {
        if text == "sqlite::memory:" || text == "sqlite://:memory:" {
            self = .sqliteMemory
        } else if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }
            guard !path.isEmpty else { throw DatabaseError(.other, "sqlite URL without a path") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(text)
        } else {
            throw DatabaseError(.other, "unsupported database URL scheme (use sqlite: or postgres://)")
        }
    }
}

/// Opens the database a URL names.
public func openDatabase(url: DatabaseURL, poolSize: Int = 4, logger: Logger = Logger(label: "storage")) throws -> any Database {
    switch url {
    case .sqlite(let path): return try SQLiteDatabase(path: path, readers: max(1, poolSize / 2), logger: logger)
    case .sqliteMemory: return try SQLiteDatabase(path: nil, readers: 0, logger: logger)
    case .postgres(let conninfo): return try PostgresDatabase(conninfo: conninfo, poolSize: poolSize, logger: logger)
    }
}

/// `openDatabase` from async code: opening SQLite sets its pragmas and may wait on the disk (fdatasync), so it
/// runs on a thread of its own, never on the cooperative pool.
public func open(url: DatabaseURL, poolSize: Int = 4, logger: Logger = Logger(label: "storage")) async throws -> any Database {
    try await withCheckedThrowingContinuation { continuation in
        SystemThread.start(name: "database-open") {
            continuation.resume(with: Result { try openDatabase(url: url, poolSize: poolSize, logger: logger) })
        }
    }
}
