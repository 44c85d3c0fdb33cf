import Logging

/// PostgreSQL behind the `Database` protocol: a fixed pool of libpq connections, each on its own thread.
///
/// A write runs as `BEGIN ISOLATION LEVEL ...; body; COMMIT` on one connection; a broken connection
/// fails the job in hand with `.connectionLost` and is re-established for the next one.
public final class PostgresDatabase: Database {
    public var dialect: SQLDialect { .postgres }
    private let threads: ConnectionThreads<PostgresConnection>

    public init(conninfo: String, poolSize: Int = 4, logger: Logger = Logger(label: "storage.postgres")) throws {
        let libpq = try LibPQ.load()
        let connections = (0..<max(1, poolSize)).map { _ in PostgresConnection(conninfo: conninfo, libpq: libpq) }
        threads = ConnectionThreads(
            name: "postgres",
            connections: connections,
            process: { connection, jobs in
                for job in jobs {
                    do {
                        try connection.prepareForJob()
                    } catch {
                        job.fail(error as? DatabaseError ?? DatabaseError(.connectionLost, "\(error)"))
                        continue
                    }
                    job.run(connection).deliver()
                }
            },
            finish: { $0.close() }
        )
    }

    @discardableResult
    public func write<T: Sendable>(
        isolation: IsolationLevel,
        _ body: @escaping @Sendable (DatabaseConnection) throws -> T
    ) async throws -> T {
        try await threads.run { connection in
            try connection.executeScript("BEGIN ISOLATION LEVEL \(isolation.rawValue)")
            do {
                let value = try body(connection)
                try connection.executeScript("COMMIT")
                return value
            } catch {
                try? connection.executeScript("ROLLBACK")
                throw error
            }
        }
    }

    @discardableResult
    public func read<T: Sendable>(_ body: @escaping @Sendable (DatabaseConnection) throws -> T) async throws -> T {
        try await threads.run(body)
    }

    public func close() async {
        await threads.close()
    }
}
