import Storage

/// The service's folders, embedded in its executable (see `MigrationFiles`; `EmbeddedResourceTests`).
enum Embedded {
    /// The `Migrations` folder.
    static let migrations = MigrationFiles(embedded: [
        "001_init.postgres.sql": PackageResources._01_init_postgres_sql,
        "001_init.sqlite.sql": PackageResources._01_init_sqlite_sql,
        "002_leases.postgres.sql": PackageResources._02_leases_postgres_sql,
        "002_leases.sqlite.sql": PackageResources._02_leases_sqlite_sql,
        "003_kinds.postgres.sql": PackageResources._03_kinds_postgres_sql,
        "003_kinds.sqlite.sql": PackageResources._03_kinds_sqlite_sql,
        "004_audit.postgres.sql": PackageResources._04_audit_postgres_sql,
        "004_audit.sqlite.sql": PackageResources._04_audit_sqlite_sql,
        "005_operator_actions.postgres.sql": PackageResources._05_operator_actions_postgres_sql,
        "005_operator_actions.sqlite.sql": PackageResources._05_operator_actions_sqlite_sql,
        "006_saga_log.postgres.sql": PackageResources._06_saga_log_postgres_sql,
        "006_saga_log.sqlite.sql": PackageResources._06_saga_log_sqlite_sql,
    ])

    /// `Resources/openapi.json`, the service's OpenAPI document.
    static let openAPI = PackageResources.openapi_json
}
