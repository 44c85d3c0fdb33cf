import Foundation
import Testing

@testable import HTTP

/// The router: path parameters percent-decoded as Foundation decodes them, literals matched before any
/// decoding, 404 and 405 told apart.
@Suite("Router")
struct RouterTests {
    static let unencoded = [
        "ord_0193", "SKU-1", "a b/c", "東京", "café", "100%", "x?y#z", "a;b=c&d", "~user.name_1", "'(!*)'$+,:@", "", "\u{7F}\t\n",
    ]

    /// `pathSegment` gives Foundation's `.urlPathAllowed` encoding without `/` (and `?`, `#`), `queryValue`
    /// keeps the unreserved characters only (as Foundation's `.alphanumerics` with `-._~` did for ASCII).
    @Test(arguments: unencoded)
    func pathSegmentsAndQueryValuesEncodeAsFoundationDid(text: String) {
        let path = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))
        #expect(pathSegment(text) == text.addingPercentEncoding(withAllowedCharacters: path))
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        #expect(queryValue(text) == text.addingPercentEncoding(withAllowedCharacters: unreserved))
        #expect(Router.percentDecoded(pathSegment(text)[...]) == text)
    }

    @Test(arguments: ["ord_0193", "SKU%2D1", "a%20b%2Fc", "%E6%9D%B1%E4%BA%AC", "caf%C3%A9", "100%", "%zz", "%4", "%FF%FE", ""])
    func parametersDecodeAsFoundationDoes(part: String) {
        #expect(Router.percentDecoded(part[...]) == part.removingPercentEncoding)
    }

    @Test func theMatchingRouteGetsItsDecodedParametersAndOthersAre404Or405() async throws {
        var router = Router()
        router.get("/v1/products/{sku}") { request in Response(status: .ok, body: Array((request.parameters["sku"] ?? "").utf8)) }
        router.post("/v1/orders/{id}/approve") { request in Response(status: .ok, body: Array((request.parameters["id"] ?? "").utf8)) }
        let product = try await router.respond(to: Request(head: RequestHead(method: "GET", target: "/v1/products/SKU%2D1")))
        #expect(String(decoding: product.body, as: UTF8.self) == "SKU-1")
        let undecodable = try await router.respond(to: Request(head: RequestHead(method: "GET", target: "/v1/products/100%25%zz")))
        #expect(String(decoding: undecodable.body, as: UTF8.self) == "100%25%zz", "kept as it is when it does not decode")
        let order = try await router.respond(to: Request(head: RequestHead(method: "POST", target: "/v1/orders/o%201/approve")))
        #expect(String(decoding: order.body, as: UTF8.self) == "o 1")
        await #expect(throws: HTTPError.self) {
            try await router.respond(to: Request(head: RequestHead(method: "GET", target: "/v1/orders/o1/reject")))
        }
        do {
            _ = try await router.respond(to: Request(head: RequestHead(method: "DELETE", target: "/v1/products/x")))
            Issue.record("a DELETE of a GET route answered")
        } catch let error as HTTPError {
            #expect(error.status == .methodNotAllowed)
        }
        #expect(router.pattern(for: Request(head: RequestHead(method: "GET", target: "/v1/products/a"))) == "/v1/products/{sku}")
        #expect(router.pattern(for: Request(head: RequestHead(method: "GET", target: "/v1/products"))) == nil)
    }

    /// The router matches on the target's bytes: its parts are the non-empty segments of the path as
    /// `RequestHead.path` reads it (absolute form, query, repeated and trailing slashes, non-ASCII).
    @Test(arguments: [
        "/", "", "*", "/v1/orders/o1", "/v1/orders/o1/", "//v1///orders//o1", "/v1/orders?after=/x/y", "/?", "/a?b?c",
        "http://127.0.0.1:8081/v1/orders/o1?x=1", "http://host", "http://host?x=/a", "https://h/caf%C3%A9/東京", "/東京/x",
    ])
    func thePathPartsAreThePathsSegments(target: String) {
        var bytes = target
        let parts = bytes.withUTF8 { buffer in
            Router.pathParts(buffer).map { String(decoding: UnsafeBufferPointer(rebasing: buffer[$0]), as: UTF8.self) }
        }
        let path = RequestHead(method: "GET", target: target).path
        #expect(parts == path.split(separator: "/").map(String.init), "\(target) has the path \(path)")
    }

    @Test func anAbsoluteFormTargetIsRoutedByItsPath() async throws {
        var router = Router()
        router.get("/v1/orders/{id}") { request in Response(status: .ok, body: Array((request.parameters["id"] ?? "").utf8)) }
        let order = try await router.respond(
            to: Request(head: RequestHead(method: "GET", target: "http://localhost:8082/v1/orders/o%201?x=/y"))
        )
        #expect(String(decoding: order.body, as: UTF8.self) == "o 1")
        #expect(router.pattern(for: Request(head: RequestHead(method: "GET", target: "/v1/orders/ord/extra"))) == nil)
        #expect(router.pattern(for: Request(head: RequestHead(method: "GET", target: "/v1/order/o1"))) == nil, "a shorter literal")
        #expect(router.pattern(for: Request(head: RequestHead(method: "GET", target: "/v1/orderss/o1"))) == nil, "a longer literal")
    }

    /// `resolve` finds the route once for the middleware and `respond`: the pattern is the one serving the
    /// method (the metrics label and the access rule), a resolution made for another method or target, or by
    /// another router, is not trusted, and 404 and 405 stay apart.
    @Test func aRouteResolvedOnceServesTheRequestAndAStaleOneIsFoundAgain() async throws {
        var router = Router()
        router.get("/v1/orders/{id}") { request in Response(status: .ok, body: Array("get \(request.parameters["id"] ?? "")".utf8)) }
        router.post("/v1/orders/batch") { _ in Response(status: .ok, body: Array("batch".utf8)) }
        router.delete("/v1/orders/{id}") { request in Response(status: .ok, body: Array("delete \(request.parameters["id"] ?? "")".utf8)) }
        func text(_ response: Response) -> String { String(decoding: response.body, as: UTF8.self) }

        var batch = Request(method: "POST", target: "/v1/orders/batch")
        router.resolve(&batch)
        #expect(batch.resolution?.pattern == "/v1/orders/batch", "the served route's pattern, not the first path that fits")
        #expect(text(try await router.respond(to: batch)) == "batch")

        var head = Request(method: "HEAD", target: "/v1/orders/o%201")
        router.resolve(&head)
        #expect(head.resolution?.pattern == "/v1/orders/{id}")
        #expect(text(try await router.respond(to: head)) == "get o 1")

        // Resolved, then changed by a middleware: found again for what it now is.
        var changed = Request(method: "GET", target: "/v1/orders/a")
        router.resolve(&changed)
        changed.head.method = "DELETE"
        changed.head.target = "/v1/orders/b"
        #expect(text(try await router.respond(to: changed)) == "delete b")

        // Resolved by another router (another service's, mounted differently): not trusted.
        var other = Router()
        other.get("/v1/orders/{id}") { _ in Response(status: .ok, body: Array("other".utf8)) }
        var foreign = Request(method: "GET", target: "/v1/orders/x")
        other.resolve(&foreign)
        #expect(text(try await router.respond(to: foreign)) == "get x")
        #expect(text(try await other.respond(to: foreign)) == "other")

        // Resolved by a copy made before a route was added: the router with the route does not take its 404.
        let before = router
        router.get("/v1/later") { _ in Response(status: .ok, body: Array("later".utf8)) }
        var later = Request(method: "GET", target: "/v1/later")
        before.resolve(&later)
        #expect(later.resolution?.pattern == nil)
        #expect(text(try await router.respond(to: later)) == "later")

        var wrongMethod = Request(method: "PUT", target: "/v1/orders/x")
        router.resolve(&wrongMethod)
        #expect(wrongMethod.resolution?.pattern == "/v1/orders/{id}")
        do {
            _ = try await router.respond(to: wrongMethod)
            Issue.record("a PUT answered")
        } catch let error as HTTPError {
            #expect(error.status == .methodNotAllowed)
            #expect(error.headers["Allow"] == "GET, DELETE, HEAD")
        }
        var nowhere = Request(method: "GET", target: "/v1/nothing")
        router.resolve(&nowhere)
        #expect(nowhere.resolution?.pattern == nil)
        await #expect(throws: HTTPError.self) { try await router.respond(to: nowhere) }
    }

    @Test func queryParametersAreFormDecoded() {
        func query(_ target: String) -> [String: String] { Request(method: "GET", target: target).query }
        #expect(query("/v1/x") == [:])
        #expect(query("/v1/x?") == [:])
        #expect(query("/v1/x?a=1&b=two+words&c=%C3%A9t%C3%A9&d&e=&a=2") == ["a": "1", "b": "two words", "c": "été", "d": "", "e": ""])
        #expect(query("/v1/x?bad=%zz&cut=%4&plus=1%2B1&sp+ace=x") == ["bad": "%zz", "cut": "%4", "plus": "1+1", "sp ace": "x"])
        #expect(query("/v1/x?notutf8=%FF") == ["notutf8": "%FF"])
    }
}
