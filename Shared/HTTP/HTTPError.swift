import Foundation

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

    /// The problem document as a response.
    public var response: Response {
        var object: [String: Any] = [
            "type": "https://sagamart.dev/problems/\(code.replacingOccurrences(of: "_", with: "-"))",
            "title": title,
            "status": status.code,
            "code": code,
        ]
        if let detail { object["detail"] = detail }
        for (key, value) in extra where object[key] == nil { object[key] = value }
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var headers = self.headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/problem+json")
        return Response(status: status, headers: headers, body: Array(body))
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
