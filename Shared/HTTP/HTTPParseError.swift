/// Why a message could not be parsed, and the status a server answers with before closing.
///
/// The `reason` is a short fixed phrase safe to show a client: it never echoes the bytes received.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Malformed syntax or framing: 400.
        case badRequest
        /// The start line exceeds its limit: 414.
        case uriTooLong
        /// The header section exceeds its byte or field limit: 431.
        case headersTooLarge
        /// The body exceeds its limit: 413.
        case contentTooLarge
        /// An HTTP version other than 1.0 and 1.1: 505.
        case versionNotSupported
        /// A transfer coding other than chunked: 501.
        case notImplemented
        /// The peer closed the connection in the middle of a message.
        case truncated
    }

    public let kind: Kind
    public let reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    /// The status a server answers with.
    public var status: HTTPStatus {
        switch kind {
        case .badRequest, .truncated: return .badRequest
        case .uriTooLong: return .uriTooLong
        case .headersTooLarge: return .requestHeaderFieldsTooLarge
        case .contentTooLarge: return .contentTooLarge
        case .versionNotSupported: return .httpVersionNotSupported
        case .notImplemented: return .notImplemented
        }
    }

    public var description: String { "\(status.code): \(reason)" }
}
