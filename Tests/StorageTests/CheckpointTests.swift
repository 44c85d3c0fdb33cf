import Foundation
import TestSupport
import Testing

@testable import Storage

/// SQLite's WAL is copied back into the database by the checkpoint thread, not by the commit that crosses
/// the default 1,000 pages: commits never wait for a checkpoint, and the WAL does not grow without end.
@Suite("SQLite checkpoints off the writer")
struct CheckpointTests {
    @Test func theWALIsCheckpointedByItsOwnThread() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/checkpoint.db"
        // No pass on a timer here: only the commits' requests can checkpoint.
        let database = try SQLiteDatabase(path: path, checkpointInterval: .seconds(3600))
        try await database.write { try $0.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)", []) }
        // About 1,300 pages in 130 commits (few fsyncs: this runs beside the whole suite): past the 1,000 at
        // which the hook asks for a checkpoint, short of the 10,000 at which the writer does one itself.
        let body = [UInt8](repeating: 0xA5, count: 40_000)
        for _ in 0..<130 {
            try await database.write { try $0.execute("INSERT INTO blobs (body) VALUES ($1)", [.blob(body)]) }
        }
        func size(_ file: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int) ?? 0 }
        // The checkpoint thread copies the WAL as it stood at the request (1,000 frames, some of them the same
        // page written again: 3.4 MB of distinct pages in a loaded CI run) into the database file; without it,
        // and without SQLite's automatic checkpoint, which the hook replaces, every page would still be in the
        // WAL and the file a few pages (under 100 KB) long.
        let deadline = ContinuousClock.now + .seconds(30)
        while size(path) < 2_000_000, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(size(path) >= 2_000_000, "the database file holds the pages of the first request")
        #expect(database.checkpointRequests >= 1, "the commits past 1,000 pages asked the thread")
        #expect(try await database.read { try $0.queryOne("SELECT COUNT(*) AS n FROM blobs")!.decode("n", as: Int64.self) } == 130)
        await database.close()
    }

    /// SQLite's memory statistics are off in every service (they cost a global mutex per allocation: about
    /// 2,000 lock and unlock pairs per checkout, counted with a uprobe): SQLite then counts nothing.
    @Test func sqliteCountsNoMemoryStatistics() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try SQLiteDatabase(path: "\(directory)/statistics.db")
        try await database.write { try $0.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)", []) }
        try await database.write { try $0.execute("INSERT INTO t (body) VALUES ($1)", [.text("x")]) }
        #expect(SQLiteConnection.countedMemory == 0)
        await database.close()
    }
}
