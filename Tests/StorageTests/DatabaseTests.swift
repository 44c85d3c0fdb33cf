import Foundation
import Storage
import TestSupport
import Testing

struct Failure: Error {}

@Suite("Database on every backend")
struct DatabaseTests {
    static let schema = """
        CREATE TABLE items (
            id TEXT PRIMARY KEY,
            count BIGINT NOT NULL,
            price DOUBLE PRECISION,
            name TEXT NOT NULL,
            active BOOLEAN NOT NULL,
            payload BYTEA,
            created_at TIMESTAMPTZ,
            ref UUID
        )
        """

    static func prepare(_ database: any Database) async throws {
        var sql = schema
        if database.dialect == .sqlite {
            // SQLite's STRICT tables take only its own type names.
            sql = """
                CREATE TABLE items (
                    id TEXT PRIMARY KEY, count INTEGER NOT NULL, price REAL, name TEXT NOT NULL,
                    active INTEGER NOT NULL, payload BLOB, created_at TEXT, ref TEXT
                ) STRICT
                """
        }
        let statement = sql
        try await database.write { try $0.executeScript(statement) }
    }

    @Test(arguments: Backend.available)
    func typedValuesRoundTrip(_ backend: Backend) async throws {
        try await backend.withDatabase { database in
            try await Self.prepare(database)
            let when = Date(timeIntervalSince1970: 1_800_000_000.123456)
            let ref = UUID()
            try await database.write { connection in
                try connection.execute(
                    "INSERT INTO items (id, count, price, name, active, payload, created_at, ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    "a",
                    Int64.max,
                    12.5,
                    "Zoë's \"quoted\" name",
                    true,
                    [UInt8]([0, 1, 2, 255]),
                    when,
                    ref
                )
                try connection.execute(
                    "INSERT INTO items (id, count, price, name, active, payload, created_at, ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    "b",
                    Int64(-7),
                    Double?.none,
                    "",
                    false,
                    [UInt8]?.none,
                    Date?.none,
                    UUID?.none
                )
            }
            let rows = try await database.read { try $0.query("SELECT * FROM items ORDER BY id", []) }
            #expect(rows.count == 2)
            #expect(try rows[0].decode("count") == Int64.max)
            #expect(try rows[0].decode("price") == 12.5)
            #expect(try rows[0].decode("name") == "Zoë's \"quoted\" name")
            #expect(try rows[0].decode("active") == true)
            #expect(try rows[0].decode("payload") == [UInt8]([0, 1, 2, 255]))
            let stored: Date = try rows[0].decode("created_at")
            #expect(abs(stored.timeIntervalSince(when)) < 0.000_01)
            #expect(try rows[0].decode("ref") == ref)
            #expect(try rows[1].decode("count") == Int64(-7))
            #expect(try rows[1].decode("name", as: String?.self) == "", "the empty string is text, not NULL")
            #expect(try rows[1].decode("price", as: Double?.self) == nil)
            #expect(try rows[1].decode("payload", as: [UInt8]?.self) == nil)
            #expect(try rows[1].decode("created_at", as: Date?.self) == nil)
            #expect(try rows[1].decode("active") == false)
            #expect(throws: DatabaseError.self) { try rows[1].decode("name", as: Int64.self) }
            #expect(throws: DatabaseError.self) { try rows[1].decode("missing", as: String.self) }
        }
    }

    @Test(arguments: Backend.available)
    func parametersOutOfOrderAndRepeated(_ backend: Backend) async throws {
        try await backend.withDatabase { database in
            let row = try await database.read { try $0.queryOne("SELECT $2 || '-' || $1 || '-' || $2 AS joined", "a", "b") }
            #expect(try row?.decode("joined") == "b-a-b")
        }
    }

    @Test(arguments: Backend.available)
    func sqlLookingInputIsStoredAsText(_ backend: Backend) async throws {
        try await backend.withDatabase { database in
            try await Self.prepare(database)
            let evil = "x'); DROP TABLE items; --"
            try await database.write {
                try $0.execute("INSERT INTO items (id, count, name, active) VALUES ($1, $2, $3, $4)", evil, 1, evil, true)
            }
            let rows = try await database.read { try $0.query("SELECT name FROM items WHERE id = $1", evil) }
            #expect(try rows.first?.decode("name") == evil)
        }
    }

    @Test(arguments: Backend.available)
    func aThrowingTransactionRollsBack(_ backend: Backend) async throws {
        try await backend.withDatabase { database in
            try await Self.prepare(database)
            await #expect(throws: Failure.self) {
                try await database.write { connection in
                    try connection.execute("INSERT INTO items (id, count, name, active) VALUES ($1, $2, $3, $4)", "x", 1, "x", true)
                    throw Failure()
                }
            }
            let count = try await database.read { try $0.queryOne("SELECT COUNT(*) AS n FROM items")?.decode("n", as: Int.self) }
            #expect(count == 0)
        }
    }

    @Test(arguments: Backend.available)
    func uniqueViolationsAreReportedAsSuch(_ backend: Backend) async throws {
        try await backend.withDatabase { database in
            try await Self.prepare(database)
            let insert = "INSERT INTO items (id, count, name, active) VALUES ($1, $2, $3, $4)"
            try await database.write { try $0.execute(insert, "dup", 1, "a", true) }
            await #expect {
                try await database.write { try $0.execute(insert, "dup", 2, "b", true) }
            } throws: { ($0 as? DatabaseError)?.code == .uniqueViolation }
            await #expect {
                try await database.write { try $0.execute(insert, "nul", 2, String?.none, true) }
            } throws: { ($0 as? DatabaseError)?.code == .constraintViolation }
            await #expect {
                try await database.write { try $0.execute("INSERT INTO nowhere VALUES ($1)", 1) }
            } throws: { ($0 as? DatabaseError)?.code == .other }
        }
    }

    @Test(arguments: Backend.available)
    func concurrentWritersLoseNoUpdate(_ backend: Backend) async throws {
        try await backend.withDatabase { database in
            try await Self.prepare(database)
            try await database.write { try $0.execute("INSERT INTO items (id, count, name, active) VALUES ('c', 0, 'c', 1 = 1)", []) }
            // Half the transactions fail after writing: their increments must vanish, the others all count.
            let results = await withTaskGroup(of: Bool.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        do {
                            try await database.write { connection in
                                let current: Int64 = try connection.queryOne("SELECT count FROM items WHERE id = 'c'")!.decode("count")
                                try connection.execute("UPDATE items SET count = $1 WHERE id = 'c'", current + 1)
                                if i % 2 == 1 { throw Failure() }
                            }
                            return true
                        } catch {
                            return false
                        }
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            let committed = results.filter { $0 }.count
            let count = try await database.read { try $0.queryOne("SELECT count FROM items WHERE id = 'c'")?.decode("count", as: Int.self) }
            if backend == .postgres {
                // READ COMMITTED lets concurrent read-modify-write lose updates; the test is about SQLite's serial writer.
                #expect((count ?? 0) <= committed)
            } else {
                #expect(committed == 50)
                #expect(count == 50)
            }
        }
    }

    @Test(arguments: Backend.available)
    func serializableTransactionsNeverLoseUpdates(_ backend: Backend) async throws {
        try await backend.withDatabase { database in
            try await Self.prepare(database)
            try await database.write { try $0.execute("INSERT INTO items (id, count, name, active) VALUES ('s', 0, 's', 1 = 1)", []) }
            let committed = await withTaskGroup(of: Int.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        for _ in 0..<20 {
                            do {
                                try await database.write(isolation: .serializable) { connection in
                                    let current: Int64 = try connection.queryOne("SELECT count FROM items WHERE id = 's'")!.decode("count")
                                    try connection.execute("UPDATE items SET count = $1 WHERE id = 's'", current + 1)
                                }
                                return 1
                            } catch let error as DatabaseError where error.code == .serializationFailure {
                                continue
                            } catch {
                                return 0
                            }
                        }
                        return 0
                    }
                }
                return await group.reduce(0, +)
            }
            let count = try await database.read { try $0.queryOne("SELECT count FROM items WHERE id = 's'")?.decode("count", as: Int.self) }
            #expect(count == committed)
            #expect(committed > 0)
        }
    }
}

@Suite("Database URLs")
struct DatabaseURLTests {
    @Test func parsesTheDesignForms() throws {
        #expect(try DatabaseURL("sqlite:///var/lib/x.db") == .sqlite(path: "/var/lib/x.db"))
        #expect(try DatabaseURL("sqlite://data/x.db") == .sqlite(path: "data/x.db"))
        #expect(try DatabaseURL("sqlite:x.db") == .sqlite(path: "x.db"))
        #expect(try DatabaseURL("sqlite::memory:") == .sqliteMemory)
        #expect(try DatabaseURL("postgres://u:p@h:5432/db") == .postgres("postgres://u:p@h:5432/db"))
        #expect(throws: DatabaseError.self) { try DatabaseURL("mysql://h/db") }
        #expect(throws: DatabaseError.self) { try DatabaseURL("sqlite:") }
    }

    @Test func timestampsParseBothBackendsForms() {
        let date = Date(timeIntervalSince1970: 1_800_000_000.5)
        #expect(Timestamp.parse(Timestamp.format(date)) == date)
        #expect(Timestamp.parse("2027-01-15 08:00:00.5+00") == date)
        #expect(Timestamp.parse("2027-01-15 10:00:00.5+02:00") == date)
        #expect(Timestamp.parse("2027-01-15T08:00:00.5Z") == date)
        #expect(Timestamp.parse("not a date") == nil)
    }
}

@Suite("SQLite group commit")
struct GroupCommitTests {
    @Test func oneFailingTransactionInABatchAffectsNoOther() async throws {
        let database = try SQLiteDatabase(path: temporaryDirectory() + "/group.db")
        try await database.write { try $0.executeScript("CREATE TABLE t (n INTEGER PRIMARY KEY) STRICT") }
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for n in 0..<200 {
                group.addTask {
                    do {
                        try await database.write { connection in
                            try connection.execute("INSERT INTO t (n) VALUES ($1)", n)
                            if n % 5 == 0 { throw Failure() }
                            // A duplicate key fails inside the engine, not in Swift: it must roll back alone too.
                            if n % 7 == 0 { try connection.execute("INSERT INTO t (n) VALUES ($1)", n) }
                        }
                        return (n, true)
                    } catch {
                        return (n, false)
                    }
                }
            }
            return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        let stored = try await database.read { try $0.query("SELECT n FROM t ORDER BY n", []).map { try $0.decode("n", as: Int.self) } }
        let expected = (0..<200).filter { $0 % 5 != 0 && $0 % 7 != 0 }
        #expect(stored == expected)
        #expect(outcomes.filter(\.value).keys.sorted() == expected)
        await database.close()
    }

    /// What `/metrics` shows as `db_write_transactions` and `db_commits`: committed transactions only (one
    /// rolled back to its savepoint is not counted), and one commit per batch that committed any.
    @Test func committedTransactionsAndTheirCommitsAreCounted() async throws {
        let database = try SQLiteDatabase(path: temporaryDirectory() + "/counts.db")
        try await database.write { try $0.executeScript("CREATE TABLE t (n INTEGER PRIMARY KEY) STRICT") }
        #expect(database.writesCommitted.transactions == 1 && database.writesCommitted.commits == 1)
        // One at a time: each is a batch of its own, so each has a commit of its own.
        for n in 0..<5 { try await database.write { try $0.execute("INSERT INTO t (n) VALUES ($1)", n) } }
        _ = try? await database.write { connection in
            try connection.execute("INSERT INTO t (n) VALUES (100)", [])
            throw Failure()
        }
        #expect(database.writesCommitted.transactions == 6 && database.writesCommitted.commits == 6)
        // Side by side: every success counted, behind at most as many commits (usually far fewer).
        let succeeded = await withTaskGroup(of: Int.self) { group in
            for n in 1000..<1200 {
                group.addTask {
                    do {
                        try await database.write { connection in
                            try connection.execute("INSERT INTO t (n) VALUES ($1)", n)
                            if n % 4 == 0 { throw Failure() }
                        }
                        return 1
                    } catch {
                        return 0
                    }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(succeeded == 150)
        let (transactions, commits) = database.writesCommitted
        #expect(transactions == 156)
        #expect(commits > 6 && commits <= 156)
        await database.close()
    }

    /// What `/metrics` shows as `db_statements`: every statement the writer and the readers ran, the group
    /// commit's own included, scripts not.
    @Test func statementsOfTheWriterAndTheReadersAreCounted() async throws {
        let database = try SQLiteDatabase(path: temporaryDirectory() + "/statements.db")
        try await database.write { try $0.executeScript("CREATE TABLE t (n INTEGER PRIMARY KEY) STRICT") }
        #expect(database.statementsRun == 4)  // BEGIN IMMEDIATE, SAVEPOINT, RELEASE, COMMIT
        try await database.write { connection in
            try connection.execute("INSERT INTO t (n) VALUES (1)", [])
            try connection.execute("INSERT INTO t (n) VALUES (2)", [])
        }
        #expect(database.statementsRun == 10)
        let rows = try await database.read { try $0.query("SELECT n FROM t", []).count }
        #expect(rows == 2)
        #expect(database.statementsRun == 11)
        await database.close()
    }

    @Test func committedWritesSurviveReopening() async throws {
        let path = temporaryDirectory() + "/durable.db"
        let first = try SQLiteDatabase(path: path)
        try await first.write { try $0.executeScript("CREATE TABLE t (n INTEGER) STRICT; INSERT INTO t VALUES (42)") }
        await first.close()
        let second = try SQLiteDatabase(path: path)
        let n = try await second.read { try $0.queryOne("SELECT n FROM t")?.decode("n", as: Int.self) }
        #expect(n == 42)
        let mode = try await second.read { try $0.queryOne("PRAGMA journal_mode")?.decode("journal_mode", as: String.self) }
        #expect(mode == "wal")
        await second.close()
    }

    /// A statement's column names are read once and kept with the prepared statement; a schema change makes
    /// SQLite re-prepare it, and the names must follow (`SELECT *` gains the new column).
    @Test func cachedStatementsFollowASchemaChange() async throws {
        let database = try SQLiteDatabase(path: temporaryDirectory() + "/columns.db", readers: 0)
        try await database.write { try $0.executeScript("CREATE TABLE t (n INTEGER) STRICT; INSERT INTO t VALUES (1)") }
        let before = try await database.write { try $0.queryOne("SELECT * FROM t")?.columns }
        #expect(before == ["n"])
        try await database.write { try $0.executeScript("ALTER TABLE t ADD COLUMN label TEXT DEFAULT 'x'") }
        let after = try await database.write { connection -> (columns: [String]?, label: String?) in
            let row = try connection.queryOne("SELECT * FROM t")
            return (row?.columns, try row?.decode("label", as: String.self))
        }
        #expect(after.columns == ["n", "label"])
        #expect(after.label == "x")
        await database.close()
    }

    @Test func closedDatabaseRefusesWork() async throws {
        let database = try SQLiteDatabase(path: nil)
        await database.close()
        await #expect {
            try await database.write { try $0.execute("SELECT 1", []) }
        } throws: { ($0 as? DatabaseError)?.code == .closed }
    }
}
