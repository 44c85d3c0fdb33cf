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

    @Test func aCommitReachesTheWALAsOneWrite() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/gathered.db"
        let writer = try SQLiteConnection(path: path, readOnly: false)
        defer { writer.close() }
        _ = try writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)", [])
        let before = try #require(writer.walWrites, "the connection writes its WAL through the buffering VFS")
        _ = try writer.execute("BEGIN IMMEDIATE", [])
        try fill(writer, rows: 40)
        _ = try writer.execute("COMMIT", [])
        let after = try #require(writer.walWrites)
        // About 10 pages written, each a frame header and a page: 20 writes asked for, one made.
        #expect(after.writes - before.writes >= 16)
        #expect(after.flushes - before.flushes == 1)
        // Another connection (a reader thread's) sees the commit: it was in the file before COMMIT returned.
        let reader = try SQLiteConnection(path: path, readOnly: true)
        defer { reader.close() }
        #expect(try count(reader) == 40)
    }

    /// A transaction larger than the buffer and than the page cache: SQLite spills pages to the WAL before
    /// the commit and reads them back, then the whole of it is rolled back, then written again and kept.
    @Test func aLargeTransactionSpillsReadsBackAndRollsBack() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/spilled.db"
        let writer = try SQLiteConnection(path: path, readOnly: false)
        defer { writer.close() }
        try writer.executeScript("PRAGMA cache_size=20")
        _ = try writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)", [])
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
        let reader = try SQLiteConnection(path: path, readOnly: true)
        defer { reader.close() }
        #expect(try count(reader) == 2_000)
        #expect(try reader.query("PRAGMA integrity_check", [])[0].decode("integrity_check", as: String.self) == "ok")
    }
}
