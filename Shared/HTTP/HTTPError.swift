import FoundationEssentials

/// An error that becomes an `application/problem+json` response (RFC 9457) at the edge.
///
/// `code` is a stable machine string clients switch on (`out_of_stock`); `title` and `detail` are for
/// people and never contain SQL, bound values or secrets. `extra` carries members such as `orderId`.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPStatus
    public var code: String
    public var title: String
    public var detail: String?
    public var extra: [String: String]
    public var headers: HTTPHeaders

    public init(
        _ status: HTTPStatus,
        code: String,
        title: String? = nil,
        detail: String? = nil,
        extra: [String: String] = [:],
        headers: HTTPHeaders = HTTPHeaders()
    ) {
        self.status = status
        self.code = code
        self.title = title ?? status.reason
        self.detail = detail
        self.extra = extra
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code)" + (detail.map { ": \($0)" } ?? "") }

    /// The problem document.
    public var problem: Problem {
        Problem(
            type: "https://sagamart.dev/problems/\(code.replacing("_", with: "-"))",
            title: title,
            status: status.code,
            code: code,
            detail: detail,
            extra: extra
        )
    }

    /// The problem document as a response.
    public var response: Response {
        var headers = self.headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/problem+json")
        return Response(status: status, headers: headers, body: Array(problem.json))
    }

    public static func badRequest(_ detail: String, code: String = "bad_request") -> HTTPError {
        HTTPError(.badRequest, code: code, detail: detail)
    }

    public static func validation(_ detail: String) -> HTTPError {
        HTTPError(.unprocessableContent, code: "validation_failed", title: "Validation failed", detail: detail)
    }

    public static func notFound(_ detail: String = "The resource does not exist.") -> HTTPError {
        HTTPError(.notFound, code: "not_found", detail: detail)
    }

    public static let `internal` = HTTPError(.internalServerError, code: "internal_error", detail: "An unexpected error occurred.")
}

/// An `application/problem+json` document (RFC 9457): the standard members, SagaMart's `code`, and the
/// members a problem adds (`orderId`, `checkoutId`), all text.
public struct Problem: Codable, Sendable, Equatable {
    public var type: String
    public var title: String
    public var status: Int
    public var code: String
    public var detail: String?
    public var extra: [String: String]

    public init(type: String, title: String, status: Int, code: String, detail: String? = nil, extra: [String: String] = [:]) {
        self.type = type
        self.title = title
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private static let standard: Set<String> = ["type", "title", "status", "code", "detail"]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        type = try container.decodeIfPresent(String.self, forKey: Key("type")) ?? "about:blank"
        title = try container.decodeIfPresent(String.self, forKey: Key("title")) ?? ""
        status = try container.decodeIfPresent(Int.self, forKey: Key("status")) ?? 0
        code = try container.decodeIfPresent(String.self, forKey: Key("code")) ?? ""
        detail = try container.decodeIfPresent(String.self, forKey: Key("detail"))
        extra = [:]
        for key in container.allKeys where !Self.standard.contains(key.stringValue) {
            if let value = try? container.decode(String.self, forKey: key) { extra[key.stringValue] = value }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(type, forKey: Key("type"))
        try container.encode(title, forKey: Key("title"))
        try container.encode(status, forKey: Key("status"))
        try container.encode(code, forKey: Key("code"))
        try container.encodeIfPresent(detail, forKey: Key("detail"))
        for (key, value) in extra where !Self.standard.contains(key) { try container.encode(value, forKey: Key(key)) }
    }

    /// The document's bytes, members in a stable order.
    public var json: Data {
        (try? JSON.encoder().encode(self)) ?? Data()
    }
}
