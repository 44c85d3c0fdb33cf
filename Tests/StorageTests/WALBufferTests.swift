import CSQLite
import CSQLiteWAL
import Foundation
import TestSupport
import Testing

@testable import Storage

/// The WAL-buffering VFS (`Shared/CSQLiteWAL`): a commit's frames reach the WAL file as one write instead
/// of two per page, and nothing else changes: what a commit wrote is there for other connections, for reads
/// inside the transaction and after a rollback. (A service killed with SIGKILL keeps every commit it
/// answered: `CrashTests` and `ChaosTests` kill the services, which open their databases through it.)
@Suite("SQLite WAL writes gathered")
struct WALBufferTests {
    /// A table of `rows` rows of 1,000 bytes each, one row per page or so.
    private func fill(_ connection: SQLiteConnection, rows: Int, from first: Int = 0) throws {
        for id in first..<(first + rows) {
            let body = String(repeating: "x", count: 1_000)
            _ = try connection.execute("INSERT INTO t (id, body) VALUES ($1, $2)", [.integer(Int64(id)), .text(body)])
        }
    }

    private func count(_ connection: SQLiteConnection) throws -> Int64 {
        try connection.query("SELECT COUNT(*) AS n FROM t", [])[0].decode("n", as: Int64.self)
    }

    /// A new database with table `t` in a folder of its own: `body` gets the writer and the path (for readers).
    private func withTable(_ body: (SQLiteConnection, String) throws -> Void) throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/wal.db"
        let writer = try SQLiteConnection(path: path, readOnly: false)
        defer { writer.close() }
        _ = try writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)", [])
        try body(writer, path)
    }

    /// A new connection that only reads, as a reader thread's: it sees what is in the files, not the buffer.
    private func reading(_ path: String, _ body: (SQLiteConnection) throws -> Void) throws {
        let reader = try SQLiteConnection(path: path, readOnly: true)
        defer { reader.close() }
        try body(reader)
    }

    @Test func aCommitReachesTheWALAsOneWrite() throws {
        try withTable { (writer, path) throws in
            let before = try #require(writer.walWrites, "the connection writes its WAL through the buffering VFS")
            _ = try writer.execute("BEGIN IMMEDIATE", [])
            try fill(writer, rows: 40)
            _ = try writer.execute("COMMIT", [])
            let after = try #require(writer.walWrites)
            // About 10 pages written, each a frame header and a page: 20 writes asked for, one made.
            #expect(after.writes - before.writes >= 16)
            #expect(after.flushes - before.flushes == 1)
            // Another connection sees the commit: it was in the file before COMMIT returned.
            try reading(path) { (reader) throws in #expect(try count(reader) == 40) }
        }
    }

    /// A transaction larger than the buffer and than the page cache: SQLite spills pages to the WAL before
    /// the commit and reads them back, then the whole of it is rolled back, then written again and kept.
    @Test func aLargeTransactionSpillsReadsBackAndRollsBack() throws {
        try withTable { (writer, path) throws in
            try writer.executeScript("PRAGMA cache_size=20")
            _ = try writer.execute("BEGIN IMMEDIATE", [])
            try fill(writer, rows: 2_000)
            #expect(try count(writer) == 2_000)
            #expect(try writer.query("SELECT SUM(length(body)) AS n FROM t", [])[0].decode("n", as: Int64.self) == 2_000_000)
            _ = try writer.execute("ROLLBACK", [])
            #expect(try count(writer) == 0)
            _ = try writer.execute("BEGIN IMMEDIATE", [])
            try fill(writer, rows: 2_000)
            _ = try writer.execute("COMMIT", [])
            let written = try #require(writer.walWrites)
            #expect(written.flushes < written.writes / 10, "about 4,000 writes went out in far fewer")
            try reading(path) { (reader) throws in
                #expect(try count(reader) == 2_000)
                #expect(try reader.query("PRAGMA integrity_check", [])[0].decode("integrity_check", as: String.self) == "ok")
            }
        }
    }

    /// After a checkpoint has copied the whole WAL into the database, the next commit starts the WAL over: a
    /// new header and frames written again from the file's start. Every commit is read back whole.
    @Test func theWALStartsOverAfterACheckpoint() throws {
        try withTable { (writer, path) throws in
            for round in 0..<3 {
                _ = try writer.execute("BEGIN IMMEDIATE", [])
                try fill(writer, rows: 40, from: round * 40)
                _ = try writer.execute("COMMIT", [])
                try writer.executeScript("PRAGMA wal_checkpoint(RESTART)")
            }
            try reading(path) { (reader) throws in
                #expect(try count(reader) == 120)
                #expect(try reader.query("PRAGMA integrity_check", [])[0].decode("integrity_check", as: String.self) == "ok")
            }
        }
    }

    /// The VFS's file methods on a WAL file, called as SQLite calls them: a write that does not continue the
    /// waiting ones sends those first, a read and a size query see what waits, and after the sync the file
    /// holds every write in the order it was made (a later write over an earlier one wins).
    @Test func writesReachTheFileInTheOrderTheyWereMade() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = "\(directory)/order.db"
        #expect(FileManager.default.createFile(atPath: database, contents: Data()))
        #expect(SQLiteConnection.walBuffer)
        let vfs = try #require(sqlite3_vfs_find(SAGAMART_WAL_BUFFER_VFS))
        // The name as SQLite builds it for a database's WAL (the default VFS reads parameters behind it).
        let names = try #require(sqlite3_create_filename(database, database + "-journal", database + "-wal", 0, nil))
        defer { sqlite3_free_filename(names) }
        let memory = UnsafeMutableRawPointer.allocate(byteCount: Int(vfs.pointee.szOsFile), alignment: 16)
        defer { memory.deallocate() }
        let file = memory.assumingMemoryBound(to: sqlite3_file.self)
        let flags = SQLITE_OPEN_WAL | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        #expect(vfs.pointee.xOpen(vfs, sqlite3_filename_wal(names), file, flags, nil) == SQLITE_OK)
        let methods = try #require(file.pointee.pMethods).pointee
        defer { _ = methods.xClose(file) }
        func write(_ byte: UInt8, count: Int, at offset: Int64) {
            let bytes = [UInt8](repeating: byte, count: count)
            #expect(methods.xWrite(file, bytes, Int32(count), offset) == SQLITE_OK)
        }
        write(0x41, count: 4096, at: 0)
        write(0x42, count: 4096, at: 4096)
        var size: sqlite3_int64 = 0
        #expect(methods.xFileSize(file, &size) == SQLITE_OK && size == 8192)
        write(0x43, count: 1024, at: 1024)  // over the first write
        write(0x44, count: 4096, at: 8192)  // after the second
        var read = [UInt8](repeating: 0, count: 4096)
        #expect(methods.xRead(file, &read, 4096, 8192) == SQLITE_OK && read == [UInt8](repeating: 0x44, count: 4096))
        write(0x45, count: 4096, at: 12288)
        #expect(methods.xSync(file, SQLITE_SYNC_NORMAL) == SQLITE_OK)
        let expected =
            [UInt8](repeating: 0x41, count: 1024) + [UInt8](repeating: 0x43, count: 1024) + [UInt8](repeating: 0x41, count: 2048)
            + [UInt8](repeating: 0x42, count: 4096) + [UInt8](repeating: 0x44, count: 4096) + [UInt8](repeating: 0x45, count: 4096)
        let onDisk = try #require(FileManager.default.contents(atPath: String(cString: sqlite3_filename_wal(names))))
        #expect(Array(onDisk) == expected)
    }
}
