import FoundationEssentials

/// Codable JSON helpers shared by handlers and the client: ISO 8601 dates, sorted keys, clear decoding errors.
public enum JSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// The value `decoder()` decodes from `bytes`: by `JSONReader` when it can, else by `JSONDecoder`, which
    /// also gives every error (so an error and its coding path are Foundation's).
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        if let value = try? JSONReader.decode(type, from: bytes) { return value }
        return try decoder().decode(type, from: Data(bytes))
    }

    /// The value's JSON text as `encoder()` writes it: by `JSONWriter` when it can, else by `JSONEncoder`.
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        if let text = try JSONWriter.encode(value) {
            // Debug builds (every test run) check each message against JSONEncoder: a difference stops the
            // process that made it.
            assert(
                text == Array((try? encoder().encode(value)) ?? Data()),
                "JSONWriter differs from JSONEncoder: \(String(decoding: text, as: UTF8.self))"
            )
            return text
        }
        return Array(try encoder().encode(value))
    }
}

extension Response {
    /// A JSON response with `Content-Type: application/json`.
    /// JSON text that is ready (a fixed document, a page built by hand), sent as it is.
    public static func json(text: [UInt8], status: HTTPStatus = .ok) -> Response {
        Response(status: status, headers: HTTPHeaders([("Content-Type", "application/json")]), body: text)
    }

    public static func json(_ value: some Encodable, status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders()) throws -> Response {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        return Response(status: status, headers: headers, body: try JSON.encode(value))
    }

    /// Decodes the body as JSON.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSON.decode(type, from: body)
    }
}

extension Request {
    /// Decodes the body as JSON, or throws a 400 `malformed_json` / 422 `validation_failed` problem that says
    /// which field was wrong without echoing the input.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard !body.isEmpty else { throw HTTPError.badRequest("The request body is empty.", code: "malformed_json") }
        do {
            return try JSON.decode(type, from: body)
        } catch let error as DecodingError {
            switch error {
            case .dataCorrupted(let context) where context.codingPath.isEmpty:
                throw HTTPError.badRequest("The request body is not valid JSON.", code: "malformed_json")
            case .keyNotFound(let key, let context):
                throw HTTPError.validation("Missing field '\(Self.path(context.codingPath + [key]))'.")
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
                throw HTTPError.validation("Invalid value for field '\(Self.path(context.codingPath))'.")
            @unknown default:
                throw HTTPError.validation("The request body does not match the expected shape.")
            }
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacing(".[", with: "[")
    }
}
