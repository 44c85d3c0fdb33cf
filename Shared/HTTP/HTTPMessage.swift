import FoundationEssentials

/// The protocol version of a message (RFC 9112 section 2.3).
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    public let major: Int
    public let minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    public var description: String { "HTTP/\(major).\(minor)" }
}

/// The start line and header section of a request, as parsed (RFC 9112 sections 3 and 5).
public struct RequestHead: Sendable, Equatable {
    public var method: String
    /// The request target as sent, origin form (`/path?query`) for everything SagaMart serves.
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders

    public init(method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders()) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
    }

    /// The path part of the target, without the query (and without scheme and authority in absolute form).
    public var path: String {
        var target = Substring(self.target)
        if !target.hasPrefix("/"), let scheme = target.firstRange(of: "://") {
            target = target[scheme.upperBound...]
            target = target[(target.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? target.endIndex)...]
        }
        if let q = target.firstIndex(of: "?") { target = target[..<q] }
        return target.isEmpty ? "/" : String(target)
    }

    /// Whether the connection stays open after this request (RFC 9112 section 9.3).
    public var keepAlive: Bool {
        let tokens = headers.tokens("Connection")
        if tokens.contains("close") { return false }
        if version == .http1_0 { return tokens.contains("keep-alive") }
        return true
    }
}

/// A complete request as handlers see it: head, whole body, trailers and the router's path parameters.
public struct Request: Sendable {
    public var head: RequestHead
    public var body: [UInt8]
    public var trailers: HTTPHeaders
    /// Values captured by `{name}` segments of the matched route.
    public var parameters: [String: String]
    /// The numeric address of the peer that sent the request (empty when not made by a server).
    public var remoteAddress: String = ""
    /// Raised when the server that read this request begins to shut down.
    public var drain: DrainSignal = .never
    /// Where a router found this request's route (`Router.resolve`), so the middleware and the router look
    /// once, not once each.
    public internal(set) var resolution: Router.Resolution?

    public init(head: RequestHead, body: [UInt8] = [], trailers: HTTPHeaders = HTTPHeaders(), parameters: [String: String] = [:]) {
        self.head = head
        self.body = body
        self.trailers = trailers
        self.parameters = parameters
    }

    public init(method: String, target: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.init(head: RequestHead(method: method, target: target, headers: HTTPHeaders(headers)), body: body)
    }

    public var method: String { head.method }
    public var headers: HTTPHeaders { head.headers }

    /// The path part of the target, without the query.
    public var path: String { head.path }

    /// The decoded query parameters of the target (`application/x-www-form-urlencoded` rules).
    public var query: [String: String] {
        guard let q = head.target.firstIndex(of: "?") else { return [:] }
        var result: [String: String] = [:]
        for pair in head.target[head.target.index(after: q)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.formDecode(parts[0])
            let value = parts.count > 1 ? Self.formDecode(parts[1]) : ""
            if result[name] == nil { result[name] = value }
        }
        return result
    }

    /// `+` as a space, then `%XX` decoded (a value that does not decode is kept as it is). Foundation's
    /// `replacingOccurrences` and `removingPercentEncoding` here were 3.8 % of the saga's CPU, which reads
    /// `waitMs` and `view` of every checkout it starts.
    static func formDecode(_ s: Substring) -> String {
        let plusless = s.utf8.contains(UInt8(ascii: "+")) ? Substring(String(s).map { $0 == "+" ? " " : $0 }) : s
        return Router.percentDecoded(plusless) ?? String(plusless)
    }
}

/// A response: status, headers and a whole body. The server adds `Content-Length`, `Date` and `Connection`.
public struct Response: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Drop the connection instead of answering (an injected `reset` fault).
    public var abort = false

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain` response.
    public static func text(_ text: String, status: HTTPStatus = .ok) -> Response {
        Response(status: status, headers: HTTPHeaders([("Content-Type", "text/plain; charset=utf-8")]), body: Array(text.utf8))
    }

    /// The body decoded as UTF-8.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
