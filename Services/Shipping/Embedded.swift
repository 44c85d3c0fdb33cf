import Storage

/// The service's folders, embedded in its executable (see `MigrationFiles`; `EmbeddedResourceTests`).
enum Embedded {
    /// The `Migrations` folder.
    static let migrations = MigrationFiles(embedded: [
        "001_init.postgres.sql": PackageResources._01_init_postgres_sql,
        "001_init.sqlite.sql": PackageResources._01_init_sqlite_sql,
        "002_outbox.postgres.sql": PackageResources._02_outbox_postgres_sql,
        "002_outbox.sqlite.sql": PackageResources._02_outbox_sqlite_sql,
        "003_audit.postgres.sql": PackageResources._03_audit_postgres_sql,
        "003_audit.sqlite.sql": PackageResources._03_audit_sqlite_sql,
    ])

    /// `Resources/openapi.json`, the service's OpenAPI document.
    static let openAPI = PackageResources.openapi_json
}
