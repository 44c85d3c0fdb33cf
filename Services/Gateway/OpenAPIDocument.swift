import Foundation
import HTTP

/// The public API's OpenAPI document (`Deploy/openapi/gateway.yaml`, shipped as JSON by `scripts/openapi.py`),
/// served at `GET /v1/openapi.json`. The gateway refuses to start when the routes it mounts and the
/// operations the document describes differ: the document cannot drift from the code unnoticed.
struct OpenAPIDocument: Sendable {
    /// The document's bytes as served.
    let json: [UInt8]
    /// `GET /v1/orders/{id}` for every operation of the document.
    let operations: Set<String>

    /// What the check reads of the document: which methods each path has.
    private struct Paths: Decodable {
        struct Operation: Decodable {}
        struct Item: Decodable {
            let get, put, post, delete, patch, head, options: Operation?
        }
        let paths: [String: Item]
    }

    init(json: [UInt8]) throws {
        let document = try JSONDecoder().decode(Paths.self, from: Data(json))
        var operations: Set<String> = []
        for (path, item) in document.paths {
            let methods = [
                ("GET", item.get), ("PUT", item.put), ("POST", item.post), ("DELETE", item.delete), ("PATCH", item.patch),
                ("HEAD", item.head), ("OPTIONS", item.options),
            ]
            for (method, operation) in methods where operation != nil { operations.insert("\(method) \(path)") }
        }
        self.json = json
        self.operations = operations
    }

    /// The document in the gateway's bundle.
    static func bundled() throws -> OpenAPIDocument {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json", subdirectory: "Resources") else {
            throw Invalid(description: "the gateway's bundle has no Resources/openapi.json")
        }
        return try OpenAPIDocument(json: Array(try Data(contentsOf: url)))
    }

    /// Throws naming the differences when the mounted routes and the document's operations differ.
    func check(mounted: [String]) throws {
        let routes = Set(mounted)
        let undocumented = routes.subtracting(operations).sorted()
        let unmounted = operations.subtracting(routes).sorted()
        guard undocumented.isEmpty && unmounted.isEmpty else {
            throw Invalid(
                description: "the routes and Deploy/openapi/gateway.yaml differ; mounted but not in the document: "
                    + (undocumented.isEmpty ? "none" : undocumented.joined(separator: ", "))
                    + "; in the document but not mounted: " + (unmounted.isEmpty ? "none" : unmounted.joined(separator: ", "))
            )
        }
    }

    func mount(on router: inout Router) {
        let body = json
        router.get("/v1/openapi.json") { _ in Response.json(text: body) }
    }

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }
}
