import Storage

/// The service's folders, embedded in its executable (see `MigrationFiles`; `EmbeddedResourceTests`).
enum Embedded {
    /// The `Migrations` folder.
    static let migrations = MigrationFiles(embedded: [
        "001_init.postgres.sql": PackageResources._01_init_postgres_sql,
        "001_init.sqlite.sql": PackageResources._01_init_sqlite_sql,
        "002_feed_consumer.postgres.sql": PackageResources._02_feed_consumer_postgres_sql,
        "002_feed_consumer.sqlite.sql": PackageResources._02_feed_consumer_sqlite_sql,
        "003_start_command.postgres.sql": PackageResources._03_start_command_postgres_sql,
        "003_start_command.sqlite.sql": PackageResources._03_start_command_sqlite_sql,
        "004_keyed_fingerprints.postgres.sql": PackageResources._04_keyed_fingerprints_postgres_sql,
        "004_keyed_fingerprints.sqlite.sql": PackageResources._04_keyed_fingerprints_sqlite_sql,
        "005_audit.postgres.sql": PackageResources._05_audit_postgres_sql,
        "005_audit.sqlite.sql": PackageResources._05_audit_sqlite_sql,
        "006_unfinal_failed_answers.postgres.sql": PackageResources._06_unfinal_failed_answers_postgres_sql,
        "006_unfinal_failed_answers.sqlite.sql": PackageResources._06_unfinal_failed_answers_sqlite_sql,
    ])

    /// `Resources/openapi.json`, the service's OpenAPI document.
    static let openAPI = PackageResources.openapi_json

    /// `Resources/console`, the operators' console, by file name.
    static let console: KeyValuePairs<String, [UInt8]> = [
        "index.html": PackageResources.index_html, "console.js": PackageResources.console_js,
        "console.css": PackageResources.console_css,
    ]
}
