import CSQLite
import FoundationEssentials
import Logging
import Platform
import Synchronization

/// SQLite behind the `Database` protocol: one writer thread with its connection and several reader
/// threads with theirs (WAL lets readers run beside the writer).
///
/// The writer commits in groups: it takes every write waiting in its queue (up to 64), runs each in a
/// savepoint of one `BEGIN IMMEDIATE` transaction, and commits once, so many small transactions share
/// one fsync. Under load it first waits a moment for more when only a few are queued (`commitWindow`,
/// 300 µs unless set; `CommitWindow`). A closure that throws rolls back to its savepoint and affects no
/// other; no caller hears of success before the commit that holds its changes is on disk.
public final class SQLiteDatabase: Database {
    public var dialect: SQLDialect { .sqlite }
    private let writer: ConnectionThreads<SQLiteConnection>
    private let readers: ConnectionThreads<SQLiteConnection>?
    private let checkpointer: WALCheckpointer?
    private let logger: Logger
    private let statistics = Statistics()

    /// Opens (creating if needed) the file at `path`, or a private in-memory database when `path` is nil.
    /// `checkpointInterval`: how often the checkpoint thread looks at the WAL when no commit asked it to.
    /// `commitWindow`: how long the writer may wait for more writes before a small group commit under load
    /// (`CommitWindow`; zero: never).
    public init(
        path: String?,
        readers readerCount: Int = 2,
        checkpointInterval: Duration = .seconds(1),
        commitWindow: Duration = .microseconds(300),
        logger: Logger = Logger(label: "storage.sqlite")
    ) throws {
        self.logger = logger
        if let path {
            let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ""
            if !directory.isEmpty {
                try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        }
        let writerConnection = try SQLiteConnection(path: path, readOnly: false, counted: statistics)
        if let path {
            // The WAL is copied back into the database by a thread of its own (`WALCheckpointer`), not by the
            // commit that crosses 1,000 pages: that commit, and every write queued behind it, waited for the
            // copy and its fsync (the order service crossed it every 16 checkouts, the long tail of checkout
            // latency). The writer checkpoints itself only if the WAL reaches 10,000 pages (the thread fell
            // behind).
            let checkpointer = try WALCheckpointer(path: path, interval: checkpointInterval, logger: logger)
            checkpointer.install(on: writerConnection)
            self.checkpointer = checkpointer
        } else {
            checkpointer = nil
        }
        writer = ConnectionThreads(
            name: "sqlite-writer",
            connections: [writerConnection],
            batchLimit: 64,
            // An in-memory database has no fsync to share.
            window: path == nil ? nil : CommitWindow(length: commitWindow),
            process: { [statistics] in SQLiteDatabase.groupCommit($0, $1, statistics) },
            finish: { $0.close() }
        )
        if let path, readerCount > 0 {
            let connections = try (0..<readerCount).map { [statistics] _ in
                try SQLiteConnection(path: path, readOnly: true, counted: statistics)
            }
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
        await checkpointer?.stop()
        checkpointer?.uninstall()
    }

    /// How many times the writer's commits asked the checkpoint thread for a checkpoint.
    public var checkpointRequests: Int { checkpointer?.requests ?? 0 }

    /// How long the writer may wait for more writes under load (nil: an in-memory database, which has no
    /// fsync to share).
    var commitWindowLength: Duration? { writer.window?.length }

    /// Writes waiting for the writer thread right now (a gauge for metrics).
    public var writeBacklog: Int { writer.backlog }

    /// Since the database was opened: the write transactions that committed, and the commits that held them
    /// (each one fsync of the WAL). Their ratio is how many writes group commit puts behind one fsync.
    public var writesCommitted: (transactions: Int, commits: Int) {
        (statistics.transactions.load(ordering: .relaxed), statistics.commits.load(ordering: .relaxed))
    }

    /// Since the database was opened: the statements its writer and readers ran through `execute` and
    /// `query`, the group commit's own (BEGIN, SAVEPOINT, RELEASE, COMMIT) included; scripts (migrations,
    /// settings) and the checkpoint thread's are not counted.
    public var statementsRun: Int { statistics.statements.load(ordering: .relaxed) }

    /// The counts behind `writesCommitted` (the writer thread's) and `statementsRun` (every connection's):
    /// a figure that, unlike a time, compares across runs and machines.
    final class Statistics: Sendable {
        let transactions = Atomic<Int>(0)
        let commits = Atomic<Int>(0)
        let statements = Atomic<Int>(0)
    }

    /// The transaction's own statements go through `execute`, whose statements are prepared once per connection:
    /// through `executeScript` (`sqlite3_exec`) each was parsed and compiled anew, about 44 a checkout.
    private static func groupCommit(
        _ connection: SQLiteConnection,
        _ jobs: [ConnectionThreads<SQLiteConnection>.Job],
        _ statistics: Statistics
    ) {
        var pending: [Outcome] = []
        func failPending(_ error: DatabaseError) {
            for outcome in pending { outcome.fail(error) }
            pending = []
        }
        func begin() -> DatabaseError? {
            do {
                try connection.execute("BEGIN IMMEDIATE", [])
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
                try connection.execute("SAVEPOINT job", [])
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
                _ = try? connection.execute("RELEASE job", [])
                pending.append(outcome)
            } else {
                _ = try? connection.execute("ROLLBACK TO job", [])
                _ = try? connection.execute("RELEASE job", [])
                outcome.deliver()
            }
        }
        do {
            try connection.execute("COMMIT", [])
            if !pending.isEmpty {
                statistics.transactions.add(pending.count, ordering: .relaxed)
                statistics.commits.add(1, ordering: .relaxed)
            }
            for outcome in pending { outcome.deliver() }
        } catch {
            if connection.inTransaction { try? connection.executeScript("ROLLBACK") }
            failPending(error as? DatabaseError ?? DatabaseError(.other, "\(error)"))
        }
    }
}

/// Copies a WAL database's committed pages back into the database file on a thread and connection of its
/// own, when the writer's commits have put `threshold` pages in the WAL (SQLite's own default for the
/// commit that would otherwise do it), and once a second otherwise. A passive checkpoint never waits for
/// the writer or the readers (what a reader still uses is copied at a later pass), so no commit waits for it.
final class WALCheckpointer: Sendable {
    /// WAL pages after which a checkpoint is asked for, and after which the writer does one itself.
    static let threshold: Int32 = 1000
    static let writerThreshold: Int32 = 10_000

    private struct State {
        var stop = false
        var requested = false
        var finished = false
        var done: CheckedContinuation<Void, Never>?
        var requests = 0
    }

    private let state = Mutex(State())
    private let wake = ConditionLock()
    /// The retained reference the writer's WAL hook holds, released by `uninstall`.
    private let hookContext = Mutex<UInt>(0)

    init(path: String, interval: Duration = .seconds(1), logger: Logger) throws {
        // The connection moves to the thread and is never touched by another.
        let handOver = UncheckedTransfer(try SQLiteConnection(path: path, readOnly: false))
        SystemThread.start(name: "sqlite-checkpoint") { [self] in
            let connection = handOver.value
            while true {
                wake.lock()
                if !state.withLock({ $0.stop || $0.requested }) { wake.wait(timeout: interval) }
                wake.unlock()
                let stop = state.withLock { state -> Bool in
                    state.requested = false
                    return state.stop
                }
                if stop { break }
                do {
                    try connection.executeScript("PRAGMA wal_checkpoint(PASSIVE)")
                } catch {
                    logger.warning("WAL checkpoint failed", metadata: ["error": "\(error)"])
                }
            }
            connection.close()
            let done = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.finished = true
                return state.done
            }
            done?.resume()
        }
    }

    /// How many times the writer's commits asked for a checkpoint.
    var requests: Int { state.withLock { $0.requests } }

    /// Asks for a checkpoint now.
    func request() {
        state.withLock {
            $0.requested = true
            $0.requests += 1
        }
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    /// Replaces the writer connection's automatic checkpoint (https://www.sqlite.org/c3ref/wal_hook.html):
    /// after each commit the hook asks this thread for a checkpoint past `threshold` pages, and checkpoints
    /// on the writer itself past `writerThreshold`.
    func install(on writer: SQLiteConnection) {
        let context = Unmanaged.passRetained(self).toOpaque()
        hookContext.withLock { $0 = UInt(bitPattern: context) }
        sqlite3_wal_hook(writer.handle, walHook, context)
    }

    /// Releases the hook's reference (after the writer connection closed).
    func uninstall() {
        let bits = hookContext.withLock { bits in
            defer { bits = 0 }
            return bits
        }
        if let context = UnsafeMutableRawPointer(bitPattern: bits) { Unmanaged<WALCheckpointer>.fromOpaque(context).release() }
    }

    /// Stops the thread after the pass in progress and closes its connection.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finished = state.withLock { state -> Bool in
                state.stop = true
                if !state.finished { state.done = continuation }
                return state.finished
            }
            wake.lock()
            wake.signal()
            wake.unlock()
            if finished { continuation.resume() }
        }
    }
}

/// The writer's WAL hook: runs on the writer thread after each commit with the WAL's page count.
private let walHook: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32 = {
    context,
    db,
    _,
    pages in
    guard let context else { return SQLITE_OK }
    if pages >= WALCheckpointer.writerThreshold {
        sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
    } else if pages >= WALCheckpointer.threshold {
        Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().request()
    }
    return SQLITE_OK
}
