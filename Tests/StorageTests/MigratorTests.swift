import Foundation
import Storage
import TestSupport
import Testing

@Suite("Migrations")
struct MigratorTests {
    static let first = [
        Migration(version: 1, name: "create_products", sql: "CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT NOT NULL)"),
        Migration(version: 2, name: "add_price", sql: "ALTER TABLE products ADD COLUMN price_cents BIGINT NOT NULL DEFAULT 0"),
    ]

    @Test(arguments: Backend.available)
    func appliesInOrderOnceAndReportsStatus(_ backend: Backend) async throws {
        try await backend.withDatabase { database in
            let migrator = Migrator(Self.first.reversed())
            #expect(await !migrator.isUpToDate(database))
            #expect(try await migrator.migrate(database) == [1, 2])
            #expect(try await migrator.migrate(database) == [])
            #expect(await migrator.isUpToDate(database))
            try await database.write { try $0.execute("INSERT INTO products (sku, name, price_cents) VALUES ($1, $2, $3)", "a", "A", 5) }
            let status = try await migrator.status(database)
            #expect(status.map(\.version) == [1, 2])
            #expect(status.allSatisfy { $0.appliedAt != nil })
            let third = Migrator(Self.first + [Migration(version: 3, name: "index", sql: "CREATE INDEX products_name ON products (name)")])
            #expect(try await third.status(database).map { $0.appliedAt == nil } == [false, false, true])
            #expect(try await third.migrate(database) == [3])
        }
    }

    @Test(arguments: Backend.available)
    func aChangedMigrationIsRefusedWithAClearMessage(_ backend: Backend) async throws {
        try await backend.withDatabase { database in
            try await Migrator(Self.first).migrate(database)
            let edited = [Self.first[0], Migration(version: 2, name: "add_price", sql: "ALTER TABLE products ADD COLUMN price BIGINT")]
            await #expect {
                try await Migrator(edited).migrate(database)
            } throws: { error in
                guard let error = error as? DatabaseError else { return false }
                return error.code == .migration && error.message.contains("migration 2")
                    && error.message.contains("changed after it was applied")
            }
            await #expect {
                try await Migrator([Self.first[0]]).migrate(database)
            } throws: { ($0 as? DatabaseError)?.message.contains("unknown to this build") == true }
        }
    }

    @Test(arguments: Backend.available)
    func aFailingMigrationAppliesNothing(_ backend: Backend) async throws {
        try await backend.withDatabase { database in
            let broken = Self.first + [Migration(version: 3, name: "broken", sql: "CREATE TABLE ok (x INTEGER); THIS IS NOT SQL")]
            await #expect(throws: DatabaseError.self) { try await Migrator(broken).migrate(database) }
            let tables = try await Migrator(Self.first).migrate(database)
            #expect(tables == [1, 2])
        }
    }

    @Test(arguments: [Backend.sqliteFile] + (PostgresCluster.isAvailable ? [Backend.postgres] : []))
    func replicasStartingTogetherApplyEachMigrationOnce(_ backend: Backend) async throws {
        let url = try DatabaseURL(try await backend.makeURL())
        let databases = try (0..<4).map { _ in try openDatabase(url: url, poolSize: 2) }
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for database in databases {
                group.addTask { try await Migrator(Self.first).migrate(database) }
            }
            return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        #expect(applied.sorted() == [1, 2])
        for database in databases { await database.close() }
    }

    @Test func loadsNumberedFilesWithDialectOverrides() throws {
        let directory = URL(fileURLWithPath: temporaryDirectory())
        let files = [
            "001_init.sql": "CREATE TABLE a (x INTEGER);",
            "002_json.sqlite.sql": "CREATE TABLE b (doc TEXT);",
            "002_json.postgres.sql": "CREATE TABLE b (doc JSONB);",
            "003_more.sql": "CREATE TABLE c (x INTEGER);",
            "003_more.postgres.sql": "CREATE TABLE c (x BIGINT);",
            "README.md": "not a migration",
        ]
        for (name, text) in files { try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let sqlite = try Migration.load(from: directory, dialect: .sqlite)
        #expect(sqlite.map(\.version) == [1, 2, 3])
        #expect(sqlite.map(\.sql) == ["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (doc TEXT);", "CREATE TABLE c (x INTEGER);"])
        let postgres = try Migration.load(from: directory, dialect: .postgres)
        #expect(postgres.map(\.sql) == ["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (doc JSONB);", "CREATE TABLE c (x BIGINT);"])
        #expect(postgres[1].name == "json")
        try "x".write(to: directory.appendingPathComponent("001_again.sql"), atomically: true, encoding: .utf8)
        #expect(throws: DatabaseError.self) { try Migration.load(from: directory, dialect: .sqlite) }
    }
}
