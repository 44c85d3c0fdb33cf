import CSQLite
import CSQLiteWAL
import FoundationEssentials

/// One sqlite3 connection with a cache of prepared statements. Used by one thread at a time.
///
/// Opened in WAL mode with `synchronous=FULL`, so a commit that returned is on disk
/// (https://www.sqlite.org/pragma.html#pragma_synchronous), with foreign keys on and a busy timeout
/// for the rare case of another process (a migration) holding the write lock.
final class SQLiteConnection: DatabaseConnection {
    let handle: OpaquePointer
    private var statements: [String: Prepared] = [:]
    private let counted: SQLiteDatabase.Statistics?

    /// A prepared statement and, for its parameters `$1`, `$2`, ... in order, the index SQLite numbers each
    /// with (found once: looking them up by name made a string and a C copy of it per parameter per run).
    private final class Prepared {
        let statement: OpaquePointer
        let parameterIndexes: [Int32]
        /// The result's column names, read once (they were a `String` each per query), and read again
        /// when SQLite has re-prepared the statement since (a schema change can change them).
        var columns: [String]?
        var reprepares: Int32 = 0

        init(statement: OpaquePointer, parameterIndexes: [Int32]) {
            self.statement = statement
            self.parameterIndexes = parameterIndexes
        }

        func columnNames() -> [String] {
            let reprepared = sqlite3_stmt_status(statement, SQLITE_STMTSTATUS_REPREPARE, 0)
            if let columns, reprepared == reprepares { return columns }
            let names = (0..<sqlite3_column_count(statement)).map { String(cString: sqlite3_column_name(statement, $0)) }
            columns = names
            reprepares = reprepared
            return names
        }
    }
    var dialect: SQLDialect { .sqlite }

    /// Process-wide settings, made once before the first connection opens (SQLite refuses them after), and
    /// whether connections open through the WAL-buffering VFS (`Shared/CSQLiteWAL`): false only if SQLite
    /// refused to register it, and then they use the default VFS as before.
    static let walBuffer: Bool = {
        _ = sagamart_sqlite_disable_memory_statistics()
        return sagamart_sqlite_wal_buffer_register() == SQLITE_OK
    }()

    /// The bytes SQLite counts as in use: 0 while its memory statistics are off.
    static var countedMemory: Int64 { sqlite3_memory_used() }

    /// `counted`: the database's counts, where each statement this connection runs is added (none: not counted).
    init(path: String?, readOnly: Bool, counted: SQLiteDatabase.Statistics? = nil) throws {
        self.counted = counted
        var db: OpaquePointer?
        // https://www.sqlite.org/c3ref/open.html: NOMUTEX because each connection is confined to one thread.
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path ?? ":memory:", &db, flags, Self.walBuffer ? SAGAMART_WAL_BUFFER_VFS : nil)
        guard status == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw DatabaseError(.other, "cannot open SQLite database: \(message)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 5000)
        do {
            if path != nil && !readOnly {
                try executeScript("PRAGMA journal_mode=WAL")
            }
            // temp_store=MEMORY: statement journals and sort scratch stay in memory instead of files SQLite
            // creates and unlinks in /var/tmp (a few a second under load, each an openat and an inode).
            try executeScript("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY")
        } catch {
            sqlite3_close_v2(db)
            throw error
        }
    }

    deinit {
        assert(statements.isEmpty, "SQLiteConnection was not closed")
    }

    func close() {
        for prepared in statements.values { sqlite3_finalize(prepared.statement) }
        statements = [:]
        sqlite3_close_v2(handle)
    }

    var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// This connection's WAL file since it was opened: the writes that reached the file (each one system call)
    /// and the writes SQLite made; nil before the WAL is open or without the WAL-buffering VFS.
    var walWrites: (flushes: Int, writes: Int)? {
        var flushes: Int64 = 0
        var writes: Int64 = 0
        guard sagamart_sqlite_wal_buffer_counts(handle, &flushes, &writes) == SQLITE_OK else { return nil }
        return (Int(flushes), Int(writes))
    }

    func executeScript(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &error)
        defer { sqlite3_free(error) }
        guard status == SQLITE_OK else {
            throw mapError(status, message: error.map { String(cString: $0) } ?? "")
        }
    }

    @discardableResult
    func execute(_ sql: String, _ parameters: [DatabaseValue]) throws -> Int {
        _ = try run(sql, parameters, collect: false)
        return Int(sqlite3_changes64(handle))
    }

    func query(_ sql: String, _ parameters: [DatabaseValue]) throws -> [Row] {
        try run(sql, parameters, collect: true)
    }

    private func prepare(_ sql: String) throws -> Prepared {
        if let prepared = statements[sql] { return prepared }
        var statement: OpaquePointer?
        // https://www.sqlite.org/c3ref/prepare.html: PERSISTENT hints that the statement is reused.
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else {
            throw mapError(status, message: String(cString: sqlite3_errmsg(handle)))
        }
        // Parameters are written $1, $2, ...; SQLite numbers named parameters by first appearance,
        // so look each one up by name: https://www.sqlite.org/c3ref/bind_parameter_index.html
        let count = Int(sqlite3_bind_parameter_count(statement))
        let indexes = (0..<count).map { offset -> Int32 in
            let index = sqlite3_bind_parameter_index(statement, "$\(offset + 1)")
            return index == 0 ? Int32(offset + 1) : index
        }
        let prepared = Prepared(statement: statement, parameterIndexes: indexes)
        statements[sql] = prepared
        return prepared
    }

    private func run(_ sql: String, _ parameters: [DatabaseValue], collect: Bool) throws -> [Row] {
        counted?.statements.add(1, ordering: .relaxed)
        let prepared = try prepare(sql)
        let statement = prepared.statement
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        let expected = prepared.parameterIndexes.count
        guard expected == parameters.count else {
            throw DatabaseError(.other, "statement expects \(expected) parameters, got \(parameters.count)")
        }
        for (index, value) in zip(prepared.parameterIndexes, parameters) {
            try bind(value, at: index, in: statement)
        }
        var rows: [Row] = []
        var columns: [String]?
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else {
                throw mapError(status, message: String(cString: sqlite3_errmsg(handle)))
            }
            guard collect else { continue }
            let count = sqlite3_column_count(statement)
            if columns == nil { columns = prepared.columnNames() }
            var values: [DatabaseValue] = []
            values.reserveCapacity(Int(count))
            for column in 0..<count {
                values.append(readColumn(statement, column))
            }
            rows.append(Row(columns: columns!, values: values))
        }
        return rows
    }

    private func bind(_ value: DatabaseValue, at index: Int32, in statement: OpaquePointer) throws {
        let status: Int32
        switch value {
        case .null: status = sqlite3_bind_null(statement, index)
        case .integer(let v): status = sqlite3_bind_int64(statement, index, v)
        case .real(let v): status = sqlite3_bind_double(statement, index, v)
        case .bool(let v): status = sqlite3_bind_int64(statement, index, v ? 1 : 0)
        case .text(let v): status = bindText(v, at: index, in: statement)
        case .date(let v): status = bindText(Timestamp.format(v), at: index, in: statement)
        case .uuid(let v): status = bindText(v.uuidString.lowercased(), at: index, in: statement)
        case .blob(let v):
            status = v.withUnsafeBytes {
                sqlite3_bind_blob(
                    statement,
                    index,
                    $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                    Int32($0.count),
                    sagamart_sqlite_transient()
                )
            }
        }
        guard status == SQLITE_OK else { throw mapError(status, message: String(cString: sqlite3_errmsg(handle))) }
    }

    /// Binds text without a heap copy: a String passed as a C string is copied into a new array unless it is a
    /// long native one (short strings are stored inline, without the terminating NUL), and SQLite copies it
    /// again anyway (SQLITE_TRANSIENT). `withUTF8` lends the bytes in place (a short string's from the stack),
    /// and the length is passed, so no terminator is needed.
    private func bindText(_ text: String, at index: Int32, in statement: OpaquePointer) -> Int32 {
        var text = text
        return text.withUTF8 { bytes in
            // A null pointer would bind NULL: the empty string gets a real (empty) C string.
            guard let base = bytes.baseAddress, !bytes.isEmpty else {
                return sqlite3_bind_text(statement, index, "", 0, sagamart_sqlite_transient())
            }
            return UnsafeRawPointer(base).withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                sqlite3_bind_text(statement, index, $0, Int32(bytes.count), sagamart_sqlite_transient())
            }
        }
    }

    private func readColumn(_ statement: OpaquePointer, _ column: Int32) -> DatabaseValue {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, column))
        case SQLITE_TEXT: return .text(String(cString: sqlite3_column_text(statement, column)))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
        default: return .null
        }
    }

    /// Maps an extended result code (https://www.sqlite.org/rescode.html) to a `DatabaseError`.
    func mapError(_ status: Int32, message: String) -> DatabaseError {
        switch status {
        case 2067, 1555: return DatabaseError(.uniqueViolation, message)  // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
        case _ where status & 0xFF == SQLITE_CONSTRAINT: return DatabaseError(.constraintViolation, message)
        case _ where status & 0xFF == SQLITE_BUSY || status & 0xFF == SQLITE_LOCKED: return DatabaseError(.timeout, message)
        default: return DatabaseError(.other, message)
        }
    }
}
