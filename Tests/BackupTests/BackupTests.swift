import BackupCore
import Crypto
import Foundation
import Storage
import TestSupport
import Testing

/// Backups of SQLite files: online copies while a writer goes on, AES-GCM encryption, and restores that
/// refuse a broken, altered or wrongly keyed set without touching the data in place.
@Suite struct BackupTests {
    let folder = temporaryDirectory()

    /// `bytes` bytes that do not compress, from a generator seeded once (one system call, not one per byte).
    func write(_ bytes: Int, to path: String) throws {
        var state = UInt64.random(in: 1...UInt64.max)
        var data = Data(count: bytes)
        data.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) in
            for index in 0..<bytes {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                buffer[index] = UInt8(truncatingIfNeeded: state)
            }
        }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// What the cipher did with each file it was given, for the test to check.
    struct CipherOutcomes: Sendable {
        var roundTrips: [Bool] = []
        var wrongKey: BackupCipher.Failure?
        var renamed: BackupCipher.Failure?
        var cut: BackupCipher.Failure?
        var flipped: BackupCipher.Failure?
    }

    /// Encrypts and decrypts files of 0 bytes, 100 bytes and over two chunks, then tries the large one with
    /// the wrong key, under another name, cut at a chunk boundary, and with one bit flipped.
    func cipherOutcomes(_ cipher: BackupCipher) throws -> CipherOutcomes {
        var outcomes = CipherOutcomes()
        func failure(_ body: () throws -> Void) -> BackupCipher.Failure? {
            do {
                try body()
                return nil
            } catch {
                return error as? BackupCipher.Failure
            }
        }
        for size in [0, 100, (1 << 20) * 2 + 17] {
            let plain = folder + "/plain-\(size)"
            try write(size, to: plain)
            try cipher.encrypt(plain, to: plain + ".enc", name: "x.db.enc")
            try cipher.decrypt(plain + ".enc", to: plain + ".out", name: "x.db.enc")
            outcomes.roundTrips.append(FileManager.default.contents(atPath: plain + ".out") == FileManager.default.contents(atPath: plain))
        }
        let sealed = folder + "/plain-\((1 << 20) * 2 + 17).enc"
        outcomes.wrongKey = failure {
            try BackupCipher(secret: "another-key-entirely-0123456789").decrypt(sealed, to: folder + "/wrong", name: "x.db.enc")
        }
        outcomes.renamed = failure { try cipher.decrypt(sealed, to: folder + "/renamed", name: "y.db.enc") }
        var bytes = FileManager.default.contents(atPath: sealed)!
        // Cut at a chunk boundary: every remaining chunk is whole, but the last one is not marked final.
        let firstChunk = 6 + 4 + (1 << 20) + 28
        try bytes.prefix(firstChunk).write(to: URL(fileURLWithPath: folder + "/cut"))
        outcomes.cut = failure { try cipher.decrypt(folder + "/cut", to: folder + "/cut.out", name: "x.db.enc") }
        bytes[bytes.count / 2] ^= 1
        try bytes.write(to: URL(fileURLWithPath: folder + "/flipped"))
        outcomes.flipped = failure { try cipher.decrypt(folder + "/flipped", to: folder + "/flipped.out", name: "x.db.enc") }
        return outcomes
    }

    @Test func encryptedFilesRoundTripAndRefuseAWrongKeyTruncationAndTampering() async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cipher = BackupCipher(secret: "backup-key-for-tests-0123456789")
        // Seconds of CPU in a debug build: on a thread of its own, not the cooperative pool, whose threads the
        // other tests' servers need (held there, it made their clients time out).
        let outcomes = try await offPool { try self.cipherOutcomes(cipher) }
        #expect(outcomes.roundTrips == [true, true, true])
        #expect(outcomes.wrongKey != nil)
        #expect(outcomes.renamed != nil)
        #expect(outcomes.cut?.description.contains("truncated") == true)
        #expect(outcomes.flipped != nil)
        #expect(cipher.keyId == BackupCipher(secret: "backup-key-for-tests-0123456789").keyId)
    }

    /// A copy taken while a writer commits every millisecond is a consistent database: it passes the
    /// integrity check and holds a prefix of the writes (each row's pair of values complete).
    @Test func anOnlineCopyIsConsistentWhileAWriterGoesOn() async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/live.db"
        let database = try await open(url: .sqlite(path: path), poolSize: 2)
        try await database.write {
            try $0.executeScript("CREATE TABLE pairs (n INTEGER PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL)")
        }
        let writer = Task {
            for n in 0..<400 {
                try await database.write { connection in
                    try connection.execute("INSERT INTO pairs (n, a, b) VALUES ($1, $2, 0)", n, n)
                    try connection.execute("UPDATE pairs SET b = a WHERE n = $1", n)
                }
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        let copies = try await offPool { () throws -> [String] in
            try (0..<3).map { index in
                let copy = folder + "/copy-\(index).db"
                try SQLiteBackup.copy(from: path, to: copy)
                usleep(20_000)
                return copy
            }
        }
        try await writer.value
        for copy in copies {
            #expect(try SQLiteBackup.integrityProblems(copy) == nil)
            let rows = try SQLiteBackup.rows(copy, "SELECT COUNT(*), COALESCE(MAX(n), -1), SUM(a <> b) FROM pairs")[0]
            #expect(Int(rows[0])! == Int(rows[1])! + 1, "a prefix of the writes")
            #expect(rows[2] == "0" || rows[2].isEmpty, "no half-made row")
        }
        #expect(FileManager.default.fileExists(atPath: copies[0] + "-wal") == false)
    }

    @Test(arguments: [false, true])
    func aRestoreRefusesABrokenSetAndTouchesNothing(_ encrypted: Bool) async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let live = folder + "/payment.db"
        let database = try await open(url: .sqlite(path: live), poolSize: 2)
        try await Migrator([
            Migration(version: 1, name: "init", sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL) STRICT")
        ])
        .migrate(database)
        try await database.write { try $0.execute("INSERT INTO notes (text) VALUES ($1)", "before the backup") }
        let cipher = encrypted ? BackupCipher(secret: "backup-key-for-tests-0123456789") : nil
        let set = BackupSet(services: [try ServiceDatabase(name: "payment", url: "sqlite://\(live)")], postgres: nil, cipher: cipher)
        let backup = folder + "/set"
        let manifest = try await offPool { try set.create(in: backup) }
        #expect(manifest.services["payment"]?.schema?.migration == "1_init")
        #expect(manifest.services["payment"]?.files.first?.bytes ?? 0 > 0)
        try await database.write { try $0.execute("INSERT INTO notes (text) VALUES ($1)", "after the backup") }
        await database.close()
        let before = [FileManager.default.contents(atPath: live), FileManager.default.contents(atPath: live + "-wal")]

        let file = backup + "/" + manifest.services["payment"]!.files[0].name
        let original = FileManager.default.contents(atPath: file)!
        var failures: [String] = []
        // Truncated, one byte changed, and with a key: the manifest's checksum changed with the file's bytes
        // (only the cipher can tell that from a good file), and a wrong key.
        var flipped = original
        flipped[flipped.count - 100] ^= 0x55
        let altered = flipped
        var variants: [(String, @Sendable () throws -> Void, BackupSet)] = [
            ("truncated", { try original.prefix(original.count - 4096).write(to: URL(fileURLWithPath: file)) }, set),
            ("altered", { try altered.write(to: URL(fileURLWithPath: file)) }, set),
            (
                "altered with its checksum",
                {
                    try altered.write(to: URL(fileURLWithPath: file))
                    var changed = manifest
                    let (bytes, sha) = try Self.digest(file)
                    changed.services["payment"]!.files[0].bytes = bytes
                    changed.services["payment"]!.files[0].sha256 = sha
                    try changed.write(to: backup)
                },
                set
            ),
            (
                "wrong key",
                {},
                BackupSet(
                    services: set.services,
                    postgres: nil,
                    cipher: encrypted ? BackupCipher(secret: "not-the-key-at-all-0123456789") : nil
                )
            ),
        ]
        if !encrypted { variants.removeLast(2) }
        // Every file write and read here is off the cooperative pool: a write to a file syncs it, which took
        // seconds on a loaded CI disk and stalled every other suite's servers (seen in gdb).
        for (name, damage, restoring) in variants {
            try await offPool { try damage() }
            do {
                _ = try await offPool { try restoring.restore(backup, at: nil) }
                failures.append("\(name): restored")
            } catch {
                let now = try await offPool {
                    [FileManager.default.contents(atPath: live), FileManager.default.contents(atPath: live + "-wal")]
                }
                #expect(now == before, "\(name): the live files changed")
                #expect(!"\(error)".isEmpty)
            }
            try await offPool {
                try original.write(to: URL(fileURLWithPath: file))
                try manifest.write(to: backup)
            }
        }
        #expect(failures.isEmpty, "\(failures)")

        let restored = try await offPool { try set.restore(backup, at: nil) }
        #expect(restored.services["payment"]?.setAside != nil)
        let notes = try SQLiteBackup.rows(live, "SELECT text FROM notes ORDER BY id").map { $0[0] }
        #expect(notes == ["before the backup"])
        let aside = restored.services["payment"]!.setAside! + "/payment.db"
        #expect(try SQLiteBackup.rows(aside, "SELECT COUNT(*) FROM notes")[0][0] == "2", "the replaced data is kept aside")
        if encrypted {
            #expect(!String(decoding: original, as: UTF8.self).contains("before the backup"), "encrypted at rest")
        }
    }

    static func digest(_ path: String) throws -> (Int64, String) {
        let data = FileManager.default.contents(atPath: path)!
        return (Int64(data.count), SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined())
    }
}

/// pgBackRest on a cluster that archives its WAL: a full backup, an incremental one on top, and restores to
/// the end of the latest backup and to a point in time between two writes.
@Suite(.enabled(if: PostgresCluster.isAvailable && FileManager.default.fileExists(atPath: "/usr/bin/pgbackrest")))
struct PostgresBackupTests {
    @Test func fullThenIncrementalThenPointInTime() async throws {
        let cluster = try await offPool { try PostgresCluster(archiving: true) }
        defer { cluster.destroy() }
        let url = try await cluster.createDatabase(prefix: "pitr", ownRole: true)
        let postgres = PgBackRest(
            config: cluster.pgBackRestConfig,
            stanza: "sagamart",
            dataDirectory: cluster.dataDirectory,
            binDirectory: PostgresCluster.binDirectory!
        )
        let set = BackupSet(services: [try ServiceDatabase(name: "inventory", url: url)], postgres: postgres, cipher: nil)
        func insert(_ n: Int) async throws {
            let database = try openDatabase(url: try DatabaseURL(url), poolSize: 1)
            try await database.write { try $0.execute("INSERT INTO notes (n) VALUES ($1)", n) }
            await database.close()
        }
        func rows() async throws -> [Int] {
            let database = try openDatabase(url: try DatabaseURL(url), poolSize: 1)
            defer { Task { await database.close() } }
            return try await database.read { try $0.query("SELECT n FROM notes ORDER BY n", []).map { try $0.decode("n", as: Int.self) } }
        }
        let database = try openDatabase(url: try DatabaseURL(url), poolSize: 1)
        try await Migrator([Migration(version: 1, name: "init", sql: "CREATE TABLE notes (n BIGINT PRIMARY KEY)")]).migrate(database)
        await database.close()
        try await insert(1)
        let folder = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let full = try await offPool { try set.create(in: folder + "/full", type: "full") }
        #expect(full.services["inventory"]?.type == "full")
        #expect(full.services["inventory"]?.schema?.migration == "1_init")
        #expect(full.services["inventory"]?.lsnStart?.isEmpty == false)
        try await insert(2)
        let incremental = try await offPool { try set.create(in: folder + "/incr", type: "incr") }
        #expect(incremental.services["inventory"]?.type == "incr")
        #expect(incremental.services["inventory"]?.files.isEmpty == false)
        try await insert(3)
        try await Task.sleep(for: .milliseconds(300))
        let between = Timestamp.format(Date())
        try await Task.sleep(for: .milliseconds(300))
        try await insert(4)
        try await offPool { try cluster.archiveCurrentWAL() }

        // To a point in time through the archive: 3 was written before it, 4 after.
        _ = try await offPool {
            try set.restore(folder + "/incr", at: between, serverOptions: cluster.serverOptions, postgresPort: cluster.port)
        }
        try await offPool { try cluster.start() }
        #expect(try await rows() == [1, 2, 3])
        try await offPool { cluster.stop() }
        // To the end of the incremental backup.
        _ = try await offPool {
            try set.restore(folder + "/incr", at: nil, serverOptions: cluster.serverOptions, postgresPort: cluster.port)
        }
        try await offPool { try cluster.start() }
        #expect(try await rows() == [1, 2])
    }
}
