import Storage

/// The service's folders, embedded in its executable (see `MigrationFiles`; `EmbeddedResourceTests`).
enum Embedded {
    /// `Resources/openapi.json`, the service's OpenAPI document.
    static let openAPI = PackageResources.openapi_json
}
