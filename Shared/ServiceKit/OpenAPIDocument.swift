import FoundationEssentials
import HTTP

/// A service's OpenAPI document (`Deploy/openapi/gateway.yaml` for the public API, `Deploy/openapi/internal/`
/// for the others; shipped as JSON in the service's bundle by `scripts/openapi.py`), served at
/// `GET /v1/openapi.json`. A service refuses to start when the routes it mounts and the operations the
/// document describes differ (`ServiceRuntime.serve(openAPI:)`): the document cannot drift from the code.
public struct OpenAPIDocument: Sendable {
    /// The document's bytes as served.
    public let json: [UInt8]
    /// `GET /v1/orders/{id}` for every operation of the document.
    public let operations: Set<String>

    /// What the check reads of the document: which methods each path has.
    private struct Paths: Decodable {
        struct Operation: Decodable {}
        struct Item: Decodable {
            let get, put, post, delete, patch, head, options: Operation?
        }
        let paths: [String: Item]
    }

    public init(json: [UInt8]) throws {
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

    /// Throws naming the differences when the mounted routes and the document's operations differ.
    public func check(mounted: [String]) throws {
        let routes = Set(mounted)
        let undocumented = routes.subtracting(operations).sorted()
        let unmounted = operations.subtracting(routes).sorted()
        guard undocumented.isEmpty && unmounted.isEmpty else {
            throw Invalid(
                description: "the routes and the OpenAPI document (Deploy/openapi) differ; mounted but not in the document: "
                    + (undocumented.isEmpty ? "none" : undocumented.joined(separator: ", "))
                    + "; in the document but not mounted: " + (unmounted.isEmpty ? "none" : unmounted.joined(separator: ", "))
            )
        }
    }

    public func mount(on router: inout Router) {
        let body = json
        router.get("/v1/openapi.json") { _ in Response.json(text: body) }
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }
}
