import Storage

/// What the executable carries of its source folder (SwiftPM's `embedInCode`), so that it runs with no
/// resource folder beside it and links no Foundation `Bundle`. `EmbeddedResourceTests` checks these lists
/// against the folders.
enum Embedded {
    /// `Resources/openapi.json`, the service's OpenAPI document.
    static let openAPI = PackageResources.openapi_json
}
