import CSQLite
import FoundationEssentials
import Glibc

/// Online backups of a SQLite database file while its service keeps writing, with SQLite's own backup API
/// (https://www.sqlite.org/backup.html), and the checks a backup gets before it is kept or restored.
///
/// Blocking: call from a thread of the caller's (the `backup` command runs synchronously), never from the
/// cooperative pool.
public enum SQLiteBackup {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Copies the database at `source` into a new file at `destination`, as of one moment (see `Snapshot`),
    /// as one self-contained rollback-journal file. Returns its size in bytes.
    @discardableResult
    public static func copy(from source: String, to destination: String) throws -> Int {
        guard !FileManager.default.fileExists(atPath: destination) else { throw Failure(description: "\(destination) exists") }
        let snapshot = try Snapshot(of: source)
        return try snapshot.withFileBytes { bytes in
            guard FileManager.default.createFile(atPath: destination, contents: Data(bytes)) else {
                throw Failure(description: "cannot write \(destination)")
            }
            return bytes.count
        }
    }

    /// A database copied into memory as of one moment, for a backup that checks the copy before anything is
    /// written and then writes it out at a pace of its own (a copy straight to disk writes as fast as the disk
    /// takes it, and the service's own commits queue behind that writeback). Holds the database's size in memory,
    /// and its file bytes (a second copy) while `withFileBytes` runs.
    public final class Snapshot {
        let db: OpaquePointer

        /// Copies `source` into an in-memory database with the backup API: `sqlite3_backup_step(-1)` copies
        /// every page in one call, inside one read transaction of the source, so in WAL mode writers go on
        /// meanwhile and the copy is the database as of that transaction's start
        /// (https://www.sqlite.org/c3ref/backup_finish.html).
        public init(of source: String) throws {
            let from = try SQLiteBackup.open(source, flags: SQLITE_OPEN_READONLY)
            defer { sqlite3_close_v2(from) }
            db = try SQLiteBackup.open(":memory:", flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            guard let backup = sqlite3_backup_init(db, "main", from, "main") else {
                sqlite3_close_v2(db)
                throw Failure(description: "cannot start the backup of \(source)")
            }
            var status = SQLITE_OK
            for _ in 0..<200 {
                status = sqlite3_backup_step(backup, -1)
                guard status == SQLITE_BUSY || status == SQLITE_LOCKED else { break }
                usleep(50_000)
            }
            sqlite3_backup_finish(backup)
            guard status == SQLITE_DONE else {
                sqlite3_close_v2(db)
                throw Failure(description: "backup of \(source) failed: \(String(cString: sqlite3_errstr(status)))")
            }
        }

        deinit { sqlite3_close_v2(db) }

        /// `PRAGMA integrity_check` on the copy: nil when it answers `ok`.
        public func integrityProblems() throws -> String? {
            let answer = try SQLiteBackup.query(db, "PRAGMA integrity_check").compactMap(\.first).joined(separator: "; ")
            return answer == "ok" ? nil : answer
        }

        /// The copy's last migration (see `SQLiteBackup.lastMigration`).
        public func lastMigration() throws -> (name: String, checksum: String)? {
            let rows = try SQLiteBackup.query(
                db,
                "SELECT version || '_' || name, checksum FROM schema_migrations ORDER BY version DESC LIMIT 1"
            )
            guard let row = rows.first, row.count == 2 else { return nil }
            return (row[0], row[1])
        }

        /// The copy as a database file's bytes (https://www.sqlite.org/c3ref/serialize.html), marked as a
        /// rollback-journal database (header bytes 18 and 19), so the file is whole without a `-wal` beside it.
        public func withFileBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
            var size: sqlite3_int64 = 0
            guard let bytes = sqlite3_serialize(db, "main", &size, 0) else {
                throw Failure(description: "cannot serialize the copy")
            }
            defer { sqlite3_free(bytes) }
            if size >= 20 {
                bytes[18] = 1
                bytes[19] = 1
            }
            return try body(UnsafeRawBufferPointer(start: bytes, count: Int(size)))
        }
    }

    /// `PRAGMA integrity_check` on a file: nil when it answers `ok`, else what it found.
    public static func integrityProblems(_ path: String) throws -> String? {
        let db = try open(path, flags: SQLITE_OPEN_READONLY)
        defer { sqlite3_close_v2(db) }
        let rows = try query(db, "PRAGMA integrity_check")
        let answer = rows.compactMap(\.first).joined(separator: "; ")
        return answer == "ok" ? nil : answer
    }

    /// The last migration a database file records: its version and name, and its checksum.
    public static func lastMigration(_ path: String) throws -> (name: String, checksum: String)? {
        let db = try open(path, flags: SQLITE_OPEN_READONLY)
        defer { sqlite3_close_v2(db) }
        let rows = try query(db, "SELECT version || '_' || name, checksum FROM schema_migrations ORDER BY version DESC LIMIT 1")
        guard let row = rows.first, row.count == 2 else { return nil }
        return (row[0], row[1])
    }

    /// Every row of a read-only query on a database file, each column as text (for operators' tools that
    /// read a file no service has open, such as the data a restore set aside).
    public static func rows(_ path: String, _ sql: String) throws -> [[String]] {
        let db = try open(path, flags: SQLITE_OPEN_READONLY)
        defer { sqlite3_close_v2(db) }
        return try query(db, sql)
    }

    static func open(_ path: String, flags: Int32) throws -> OpaquePointer {
        var db: OpaquePointer?
        let status = sqlite3_open_v2(path, &db, flags, nil)
        guard status == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw Failure(description: "cannot open \(path): \(message)")
        }
        sqlite3_busy_timeout(db, 5000)
        return db
    }

    private static func exec(_ db: OpaquePointer, _ sql: String) throws {
        _ = try query(db, sql)
    }

    /// Every row of a statement, each column as text.
    static func query(_ db: OpaquePointer, _ sql: String) throws -> [[String]] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw Failure(description: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
        }
        defer { sqlite3_finalize(statement) }
        var rows: [[String]] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else { throw Failure(description: "\(sql): \(String(cString: sqlite3_errmsg(db)))") }
            rows.append(
                (0..<sqlite3_column_count(statement)).map { column in
                    sqlite3_column_text(statement, column).map { String(cString: $0) } ?? ""
                }
            )
        }
        return rows
    }
}
