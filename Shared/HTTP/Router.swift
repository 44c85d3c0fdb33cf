import FoundationEssentials
import Glibc
import Platform
import Synchronization

/// A handler of one route.
public typealias RouteHandler = @Sendable (Request) async throws -> Response

/// Wraps a responder with behaviour of its own (logging, auth, metrics); call `next` to go on.
public typealias Middleware = @Sendable (Request, HTTPResponder) async throws -> Response

/// Matches method and path to handlers. `{name}` segments capture a path parameter (percent-decoded).
///
/// A path no route matches answers 404 `not_found`; a path matched under other methods answers 405
/// with `Allow` listing them. `HEAD` falls back to the `GET` route (the server sends no body).
public struct Router: Sendable {
    private enum Segment: Sendable, Equatable {
        /// Its bytes, compared with the path's without making strings of either.
        case literal([UInt8])
        case parameter(String)
    }

    private struct Route: Sendable {
        let method: String
        let pattern: String
        let segments: [Segment]
        let handler: RouteHandler
    }

    private var routes: [Route] = []
    /// Which routes resolved a request: new with every route added, so only this router, or a copy of it made
    /// since its last route, trusts a resolution (another router's index would name another route, and a
    /// copy made before a route was added would have answered 404 for it).
    private var identity = Router.nextIdentity()
    private static let identities = Atomic<Int>(0)
    private static func nextIdentity() -> Int { identities.add(1, ordering: .relaxed).newValue }

    /// A request's route, found once by `resolve` and used by the middleware (the pattern, for metrics
    /// labels and access rules) and by `respond` (the handler and its parameters).
    public struct Resolution: Sendable {
        fileprivate let router: Int
        /// What it was found for: a middleware that changes the method or the target makes it stale.
        fileprivate let method: String
        fileprivate let target: String
        /// The pattern of the route serving this method, else of the first whose path fits (a 405); nil: a 404.
        public let pattern: String?
        /// The route serving this method, and its parameters (nil: 404 or 405).
        fileprivate let route: Int?
        fileprivate let parameters: [String: String]
    }

    public init() {}

    /// Adds a route; later routes with the same method and pattern replace nothing, the first match wins.
    public mutating func on(_ method: String, _ pattern: String, _ handler: @escaping RouteHandler) {
        let segments = pattern.split(separator: "/").map { part -> Segment in
            if part.hasPrefix("{") && part.hasSuffix("}") { return .parameter(String(part.dropFirst().dropLast())) }
            return .literal(Array(part.utf8))
        }
        routes.append(Route(method: method, pattern: pattern, segments: segments, handler: handler))
        identity = Router.nextIdentity()
    }

    public mutating func get(_ pattern: String, _ handler: @escaping RouteHandler) { on("GET", pattern, handler) }
    public mutating func post(_ pattern: String, _ handler: @escaping RouteHandler) { on("POST", pattern, handler) }
    public mutating func put(_ pattern: String, _ handler: @escaping RouteHandler) { on("PUT", pattern, handler) }
    public mutating func delete(_ pattern: String, _ handler: @escaping RouteHandler) { on("DELETE", pattern, handler) }

    /// Every route mounted, as `GET /v1/orders/{id}`, in the order mounted (the OpenAPI check compares them).
    public var mounted: [String] { routes.map { "\($0.method) \($0.pattern)" } }

    /// The route pattern that would serve this request (`/v1/orders/{id}`), for metrics labels.
    public func pattern(for request: Request) -> String? {
        resolution(of: request).pattern
    }

    /// Finds the request's route once and keeps it in the request, for the middleware and `respond`.
    public func resolve(_ request: inout Request) {
        request.resolution = resolution(of: request)
    }

    /// The request's route: the one `resolve` found if this router (or a copy) did, else found now.
    private func resolution(of request: Request) -> Resolution {
        if let resolution = request.resolution, resolution.router == identity, resolution.method == request.method,
            resolution.target == request.head.target
        {
            return resolution
        }
        var target = request.head.target
        return target.withUTF8 { bytes in
            let parts = Router.pathParts(bytes)
            var pattern: String?
            for (index, route) in routes.enumerated() where Router.matches(route.segments, parts, in: bytes) {
                if pattern == nil { pattern = route.pattern }
                if route.method == request.method || (request.method == "HEAD" && route.method == "GET") {
                    return Resolution(
                        router: identity,
                        method: request.method,
                        target: request.head.target,
                        pattern: route.pattern,
                        route: index,
                        parameters: Router.parameters(route.segments, parts, in: bytes)
                    )
                }
            }
            return Resolution(
                router: identity,
                method: request.method,
                target: request.head.target,
                pattern: pattern,
                route: nil,
                parameters: [:]
            )
        }
    }

    /// Routes the request.
    public func respond(to request: Request) async throws -> Response {
        let resolution = resolution(of: request)
        if let index = resolution.route {
            var request = request
            request.parameters = resolution.parameters
            return try await routes[index].handler(request)
        }
        guard resolution.pattern != nil else {
            throw HTTPError.notFound("No resource at this path.")
        }
        var target = request.head.target
        var allowed: [String] = target.withUTF8 { bytes in
            let parts = Router.pathParts(bytes)
            var allowed: [String] = []
            for route in routes where Router.matches(route.segments, parts, in: bytes) && !allowed.contains(route.method) {
                allowed.append(route.method)
            }
            return allowed
        }
        if allowed.contains("GET") && !allowed.contains("HEAD") { allowed.append("HEAD") }
        throw HTTPError(
            .methodNotAllowed,
            code: "method_not_allowed",
            detail: "This resource does not support \(request.method).",
            headers: HTTPHeaders([("Allow", allowed.joined(separator: ", "))])
        )
    }

    /// The router as the server's responder.
    public var responder: HTTPResponder {
        let router = self
        return { try await router.respond(to: $0) }
    }

    /// The non-empty segments of a request target's path, as byte ranges of the target: the path as
    /// `RequestHead.path` reads it (an absolute-form target's scheme and authority left out, the query cut
    /// off), split at `/`. One array; the route table is then matched on bytes, with no string made.
    static func pathParts(_ target: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        let slash = UInt8(ascii: "/")
        let question = UInt8(ascii: "?")
        var start = 0
        if target.first != slash, let scheme = Router.firstRange(of: "://", in: target) {
            start = scheme.upperBound
            while start < target.count && target[start] != slash && target[start] != question { start += 1 }
        }
        var end = start
        while end < target.count && target[end] != question { end += 1 }
        var parts: [Range<Int>] = []
        parts.reserveCapacity(6)
        var partStart = start
        for index in start...end where index == end || target[index] == slash {
            if index > partStart { parts.append(partStart..<index) }
            partStart = index + 1
        }
        return parts
    }

    private static func firstRange(of needle: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        let count = needle.utf8CodeUnitCount
        guard bytes.count >= count else { return nil }
        for start in 0...(bytes.count - count)
        where (0..<count).allSatisfy({ bytes[start + $0] == needle.utf8Start[$0] }) {
            return start..<(start + count)
        }
        return nil
    }

    /// Whether the path's parts fit the route's segments (literals equal, as many parts as segments).
    private static func matches(_ segments: [Segment], _ parts: [Range<Int>], in target: UnsafeBufferPointer<UInt8>) -> Bool {
        guard segments.count == parts.count else { return false }
        for (segment, part) in zip(segments, parts) {
            guard case .literal(let literal) = segment else { continue }
            guard literal.count == part.count else { return false }
            let equal = literal.withUnsafeBufferPointer { literal in
                memcmp(literal.baseAddress!, target.baseAddress! + part.lowerBound, part.count) == 0
            }
            if !equal { return false }
        }
        return true
    }

    /// The parameters of a matching route, percent-decoded (a part that does not decode is kept as it is).
    private static func parameters(
        _ segments: [Segment],
        _ parts: [Range<Int>],
        in target: UnsafeBufferPointer<UInt8>
    ) -> [String: String] {
        var parameters: [String: String] = [:]
        for (segment, part) in zip(segments, parts) {
            guard case .parameter(let name) = segment else { continue }
            // The target is a String, so a part between two `/` is whole UTF-8.
            let text = String(decoding: UnsafeBufferPointer(rebasing: target[part]), as: UTF8.self)
            parameters[name] = percentDecoded(Substring(text)) ?? text
        }
        return parameters
    }

    /// `%XX` sequences decoded as UTF-8 bytes; nil when a sequence is not two hex digits or the bytes are not
    /// UTF-8. Without a `%` the part is returned at once (Foundation's `removingPercentEncoding`, through
    /// CoreFoundation, was 5 % of a participant's CPU on ids that never hold one).
    static func percentDecoded(_ part: Substring) -> String? {
        guard part.utf8.contains(UInt8(ascii: "%")) else { return String(part) }
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        let bytes = Array(part.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) else { return nil }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }
}

/// Applies middleware around a responder, the first in the list outermost.
public func chain(_ middleware: [Middleware], _ responder: @escaping HTTPResponder) -> HTTPResponder {
    middleware.reversed().reduce(responder) { next, wrap in
        { request in try await wrap(request, next) }
    }
}

/// Percent-encodes text for use as a query parameter's name or value: every byte but the unreserved ones
/// (ASCII letters, digits and `-._~`, RFC 3986 section 2.3).
public func queryValue(_ text: String) -> String {
    text.percentEncoded(allowing: { $0.isASCIIAlphanumeric || "-._~".utf8.contains($0) })
}

/// Percent-encodes text for use as one path segment of a URL (a `/`, `?` or `#` in it cannot end the segment).
public func pathSegment(_ text: String) -> String {
    // Foundation's `.urlPathAllowed` without `/`: unreserved characters, sub-delimiters but `;`, `:` and `@` (RFC 3986 3.3).
    text.percentEncoded(allowing: { $0.isASCIIAlphanumeric || "-._~!$&'()*+,=:@".utf8.contains($0) })
}
