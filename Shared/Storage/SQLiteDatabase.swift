import Foundation
import Logging

/// SQLite behind the `Database` protocol: one writer thread with its connection and several reader
/// threads with theirs (WAL lets readers run beside the writer).
///
/// The writer commits in groups: it takes every write waiting in its queue (up to 64), runs each in a
/// savepoint of one `BEGIN IMMEDIATE` transaction, and commits once, so many small transactions share
/// one fsync. A closure that throws rolls back to its savepoint and affects no other; no caller hears
/// of success before the commit that holds its changes is on disk.
public final class SQLiteDatabase: Database {
    public var dialect: SQLDialect { .sqlite }
    private let writer: ConnectionThreads<SQLiteConnection>
    private let readers: ConnectionThreads<SQLiteConnection>?
    private let logger: Logger

    /// Opens (creating if needed) the file at `path`, or a private in-memory database when `path` is nil.
    public init(path: String?, readers readerCount: Int = 2, logger: Logger = Logger(label: "storage.sqlite")) throws {
        self.logger = logger
        if let path {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        }
        let writerConnection = try SQLiteConnection(path: path, readOnly: false)
        writer = ConnectionThreads(
            name: "sqlite-writer",
            connections: [writerConnection],
            batchLimit: 64,
            process: SQLiteDatabase.groupCommit,
            finish: { $0.close() }
        )
        if let path, readerCount > 0 {
            let connections = try (0..<readerCount).map { _ in try SQLiteConnection(path: path, readOnly: true) }
            readers = ConnectionThreads(
                name: "sqlite-reader",
                connections: connections,
                process: { connection, jobs in
                    for job in jobs { job.run(connection).deliver() }
                },
                finish: { $0.close() }
            )
        } else {
            // An in-memory database exists only inside its one connection: reads go to the writer.
            readers = nil
        }
    }

    @discardableResult
    public func write<T: Sendable>(
        isolation: IsolationLevel,
        _ body: @escaping @Sendable (DatabaseConnection) throws -> T
    ) async throws -> T {
        try await writer.run(body)
    }

    @discardableResult
    public func read<T: Sendable>(_ body: @escaping @Sendable (DatabaseConnection) throws -> T) async throws -> T {
        if let readers { return try await readers.run(body) }
        return try await writer.run(body)
    }

    public func close() async {
        await writer.close()
        await readers?.close()
    }

    /// Writes waiting for the writer thread right now (a gauge for metrics).
    public var writeBacklog: Int { writer.backlog }

    private static func groupCommit(_ connection: SQLiteConnection, _ jobs: [ConnectionThreads<SQLiteConnection>.Job]) {
        var pending: [Outcome] = []
        func failPending(_ error: DatabaseError) {
            for outcome in pending { outcome.fail(error) }
            pending = []
        }
        func begin() -> DatabaseError? {
            do {
                try connection.executeScript("BEGIN IMMEDIATE")
                return nil
            } catch {
                return error as? DatabaseError ?? DatabaseError(.other, "\(error)")
            }
        }
        if let error = begin() {
            for job in jobs { job.fail(error) }
            return
        }
        for (index, job) in jobs.enumerated() {
            do {
                try connection.executeScript("SAVEPOINT job")
            } catch {
                let error = error as? DatabaseError ?? DatabaseError(.other, "\(error)")
                failPending(error)
                for rest in jobs[index...] { rest.fail(error) }
                if connection.inTransaction { try? connection.executeScript("ROLLBACK") }
                return
            }
            let outcome = job.run(connection)
            if !connection.inTransaction {
                // The engine rolled the whole transaction back (I/O error, disk full): earlier jobs are lost too.
                let error = DatabaseError(.other, "transaction rolled back by SQLite")
                failPending(error)
                outcome.deliver()
                if let error = begin() {
                    for rest in jobs[(index + 1)...] { rest.fail(error) }
                    return
                }
                continue
            }
            if outcome.succeeded {
                try? connection.executeScript("RELEASE job")
                pending.append(outcome)
            } else {
                try? connection.executeScript("ROLLBACK TO job; RELEASE job")
                outcome.deliver()
            }
        }
        do {
            try connection.executeScript("COMMIT")
            for outcome in pending { outcome.deliver() }
        } catch {
            if connection.inTransaction { try? connection.executeScript("ROLLBACK") }
            failPending(error as? DatabaseError ?? DatabaseError(.other, "\(error)"))
        }
    }
}
