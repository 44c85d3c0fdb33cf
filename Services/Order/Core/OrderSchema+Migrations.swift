import Storage

/// The service's folders, embedded in its executable (see `MigrationFiles`; `EmbeddedResourceTests`).
extension OrderSchema {
    /// The `Migrations` folder, the same on every shard.
    public static let migrations = MigrationFiles(embedded: [
        "001_init.postgres.sql": PackageResources._01_init_postgres_sql,
        "001_init.sqlite.sql": PackageResources._01_init_sqlite_sql,
        "002_event_sourcing.postgres.sql": PackageResources._02_event_sourcing_postgres_sql,
        "002_event_sourcing.sqlite.sql": PackageResources._02_event_sourcing_sqlite_sql,
        "003_shards.postgres.sql": PackageResources._03_shards_postgres_sql,
        "003_shards.sqlite.sql": PackageResources._03_shards_sqlite_sql,
        "004_audit.postgres.sql": PackageResources._04_audit_postgres_sql,
        "004_audit.sqlite.sql": PackageResources._04_audit_sqlite_sql,
    ])
}
