import Storage

/// The service's folders, embedded in its executable (see `MigrationFiles`; `EmbeddedResourceTests`).
enum Embedded {
    /// The `Migrations` folder.
    static let migrations = MigrationFiles(embedded: [
        "001_init.postgres.sql": PackageResources._01_init_postgres_sql,
        "001_init.sqlite.sql": PackageResources._01_init_sqlite_sql,
        "002_outbox.postgres.sql": PackageResources._02_outbox_postgres_sql,
        "002_outbox.sqlite.sql": PackageResources._02_outbox_sqlite_sql,
        "003_restocks.postgres.sql": PackageResources._03_restocks_postgres_sql,
        "003_restocks.sqlite.sql": PackageResources._03_restocks_sqlite_sql,
        "004_received.postgres.sql": PackageResources._04_received_postgres_sql,
        "004_received.sqlite.sql": PackageResources._04_received_sqlite_sql,
        "005_audit.postgres.sql": PackageResources._05_audit_postgres_sql,
        "005_audit.sqlite.sql": PackageResources._05_audit_sqlite_sql,
        "006_reservation_expiry.postgres.sql": PackageResources._06_reservation_expiry_postgres_sql,
        "006_reservation_expiry.sqlite.sql": PackageResources._06_reservation_expiry_sqlite_sql,
    ])

    /// `Resources/openapi.json`, the service's OpenAPI document.
    static let openAPI = PackageResources.openapi_json
}
