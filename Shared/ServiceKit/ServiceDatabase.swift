import FoundationEssentials
import Logging
import Storage

extension ServiceRuntime {
    /// Opens `DATABASE_URL` (default `defaultURL`) and applies `files`' migrations for its dialect.
    /// Fails the start with a clear message when the URL is malformed or a migration was changed.
    public func openDatabase(defaultURL: String, migrations files: MigrationFiles) async throws -> (any Database, Migrator) {
        try await Self.openDatabase(environment: environment, logger: logger, defaultURL: defaultURL, migrations: files)
    }

    /// The same, without a runtime: for a service's maintenance subcommands, which need no secret or port.
    public static func openDatabase(
        environment: Environment,
        logger: Logger,
        defaultURL: String,
        migrations files: MigrationFiles
    ) async throws -> (any Database, Migrator) {
        try await openDatabase(
            url: try environment.get("DATABASE_URL", default: defaultURL),
            variable: "DATABASE_URL",
            environment: environment,
            logger: logger,
            migrations: files
        )
    }

    /// Opens the database at `text` (named by `variable` in errors) and migrates it: for a service with
    /// several databases (the order service's shards).
    public static func openDatabase(
        url text: String,
        variable: String,
        environment: Environment,
        logger: Logger,
        migrations files: MigrationFiles
    ) async throws -> (any Database, Migrator) {
        let url: DatabaseURL
        do {
            url = try DatabaseURL(text)
        } catch {
            throw ConfigError(variable: variable, problem: "must be sqlite:PATH, sqlite::memory: or postgres://...")
        }
        let pool = try environment.get("DATABASE_POOL_SIZE", default: 4)
        let database = try await Storage.open(url: url, poolSize: pool, logger: logger)
        let migrator = Migrator(try files.migrations(for: database.dialect))
        let applied = try await migrator.migrate(database)
        logger.info(
            "database ready",
            metadata: ["db.dialect": "\(database.dialect.rawValue)", "db.migrations_applied": "\(applied.count)"]
        )
        return (database, migrator)
    }
}
