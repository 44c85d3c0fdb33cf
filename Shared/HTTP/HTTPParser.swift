import Platform

/// Size limits a parser enforces while reading one message.
public struct HTTPParserLimits: Sendable, Equatable {
    /// Longest request line or status line, CRLF included.
    public var maxStartLineBytes: Int
    /// Largest header section (and, separately, trailer section), CRLFs included.
    public var maxHeaderBytes: Int
    /// Most header fields (trailers counted with them).
    public var maxHeaderCount: Int
    /// Largest body after chunked decoding.
    public var maxBodyBytes: Int

    public init(maxStartLineBytes: Int = 8192, maxHeaderBytes: Int = 16384, maxHeaderCount: Int = 100, maxBodyBytes: Int = 1 << 20) {
        self.maxStartLineBytes = maxStartLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

/// The status line and headers of a response.
public struct ResponseHead: Sendable, Equatable {
    public var version: HTTPVersion
    public var status: HTTPStatus
    public var headers: HTTPHeaders
}

/// What the parser produced from the bytes it was given.
public enum HTTPParserEvent: Sendable {
    /// A request's head is complete; its body follows (`Expect: 100-continue` is answered here).
    case requestHead(RequestHead)
    /// A response's head is complete. Interim (1xx) responses come alone, with no `.end` after them.
    case responseHead(ResponseHead)
    /// The message is complete: its whole body and trailers.
    case end(body: [UInt8], trailers: HTTPHeaders)
}

/// An incremental HTTP/1.1 message parser (RFC 9112), separate from any I/O.
///
/// Bytes are appended to a `ByteBuffer` and `next(_:)` is called until it returns nil (more bytes
/// needed). It consumes only whole syntactic elements, so feeding a message whole, one byte at a
/// time or several pipelined messages at once yields the same events. After an error it stays failed.
public struct HTTPParser: Sendable {
    public enum Mode: Sendable, Equatable {
        case request
        /// Parsing responses to requests of this method (a `HEAD` response has no body).
        case response(requestMethod: String)
    }

    private enum State: Sendable, Equatable {
        case startLine
        case headers
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case endPending
        case failed
    }

    public var mode: Mode
    public let limits: HTTPParserLimits
    private var state: State = .startLine
    /// Offset from the reader index already searched for a line feed, so lines arriving in pieces are scanned once.
    private var scanned = 0
    private var headerBytes = 0
    private var headerFieldCount = 0
    /// `Host` fields in the current request's head.
    private var hostCount = 0
    private var sawStartLineBlank = false
    private var method = ""
    private var target = ""
    private var version = HTTPVersion.http1_1
    private var status = HTTPStatus.ok
    private var headers = HTTPHeaders()
    private var trailers = HTTPHeaders()
    private var body: [UInt8] = []
    /// A tighter limit for the body of the current message, set after its head (`limitBody(to:)`).
    private var messageBodyLimit: Int?

    public init(mode: Mode = .request, limits: HTTPParserLimits = HTTPParserLimits()) {
        self.mode = mode
        self.limits = limits
    }

    /// Caps the body of the message whose head was just returned (a per-route limit); never raises the
    /// parser's own limit. A declared `Content-Length` is the caller's to check against it.
    public mutating func limitBody(to limit: Int) {
        messageBodyLimit = min(limit, limits.maxBodyBytes)
    }

    /// True between messages: nothing of a next message has been consumed.
    public var isIdle: Bool { state == .startLine && scanned == 0 }

    /// Whether a response body is delimited by the connection closing (RFC 9112 section 6.3, rule 8).
    public var isReadingUntilClose: Bool { state == .untilClose }

    /// Parses the next element from `buffer`, consuming what it used. Returns nil when more bytes are needed.
    public mutating func next(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> HTTPParserEvent? {
        do {
            return try step(&buffer)
        } catch {
            state = .failed
            throw error
        }
    }

    /// Called when the peer closed the connection: completes a close-delimited body or reports truncation.
    public mutating func finish(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> HTTPParserEvent? {
        switch state {
        case .untilClose:
            buffer.read(upTo: buffer.readableCount, appendingTo: &body)
            return endMessage()
        case .startLine where buffer.readableCount == 0:
            return nil
        default:
            state = .failed
            throw HTTPParseError(.truncated, "connection closed before the message was complete")
        }
    }

    private mutating func step(_ buffer: inout ByteBuffer) throws(HTTPParseError) -> HTTPParserEvent? {
        while true {
            switch state {
            case .failed:
                throw HTTPParseError(.badRequest, "parser already failed")
            case .endPending:
                return endMessage()
            case .startLine:
                let tooLong = startLineTooLong
                guard let length = try lineLength(buffer, limit: limits.maxStartLineBytes, overLimit: tooLong) else {
                    return nil
                }
                if length == 0 && !sawStartLineBlank {
                    // RFC 9112 section 2.2: ignore at least one empty line before the request line.
                    buffer.moveReaderIndex(forwardBy: 2)
                    sawStartLineBlank = true
                    continue
                }
                switch mode {
                case .request: try parseRequestLine(buffer.peek(length))
                case .response: try parseStatusLine(buffer.peek(length))
                }
                buffer.moveReaderIndex(forwardBy: length + 2)
                state = .headers
            case .headers:
                guard let length = try headerLineLength(buffer) else { return nil }
                if length == 0 {
                    buffer.moveReaderIndex(forwardBy: 2)
                    return try headersComplete()
                }
                let field = try parseField(buffer.peek(length), inHead: true)
                buffer.moveReaderIndex(forwardBy: length + 2)
                // One allocation for a typical head's fields rather than growing from one.
                if headers.count == 0 { headers.reserveCapacity(8) }
                headers.add(name: field.name, value: field.value)
            case .fixedBody(let remaining):
                guard buffer.readableCount > 0 else { return nil }
                // The declared length was admitted (limit and body budget) before any of it is read.
                if body.isEmpty { body.reserveCapacity(remaining) }
                let left = remaining - buffer.read(upTo: remaining, appendingTo: &body)
                if left > 0 {
                    state = .fixedBody(remaining: left)
                    return nil
                }
                return endMessage()
            case .chunkSize:
                let tooLong = HTTPParseError(.badRequest, "chunk size line too long")
                guard let length = try lineLength(buffer, limit: 4096, overLimit: tooLong) else { return nil }
                let size = try parseChunkSize(buffer.peek(length))
                buffer.moveReaderIndex(forwardBy: length + 2)
                if size == 0 {
                    state = .trailers
                    headerBytes = 0
                } else {
                    guard body.count + size <= (messageBodyLimit ?? limits.maxBodyBytes) else {
                        throw HTTPParseError(.contentTooLarge, "body exceeds the limit")
                    }
                    state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                guard buffer.readableCount > 0 else { return nil }
                let left = remaining - buffer.read(upTo: remaining, appendingTo: &body)
                state = left > 0 ? .chunkData(remaining: left) : .chunkDataEnd
                if left > 0 { return nil }
            case .chunkDataEnd:
                guard buffer.readableCount >= 2 else {
                    if buffer.readableCount == 1 && buffer[0] != 0x0D {
                        throw HTTPParseError(.badRequest, "chunk data not followed by CRLF")
                    }
                    return nil
                }
                guard buffer[0] == 0x0D && buffer[1] == 0x0A else {
                    throw HTTPParseError(.badRequest, "chunk data not followed by CRLF")
                }
                buffer.moveReaderIndex(forwardBy: 2)
                state = .chunkSize
            case .trailers:
                guard let length = try headerLineLength(buffer) else { return nil }
                if length == 0 {
                    buffer.moveReaderIndex(forwardBy: 2)
                    return endMessage()
                }
                let field = try parseField(buffer.peek(length), inHead: false)
                buffer.moveReaderIndex(forwardBy: length + 2)
                trailers.add(name: field.name, value: field.value)
            case .untilClose:
                guard buffer.readableCount > 0 else { return nil }
                guard body.count + buffer.readableCount <= limits.maxBodyBytes else {
                    throw HTTPParseError(.contentTooLarge, "body exceeds the limit")
                }
                buffer.read(upTo: buffer.readableCount, appendingTo: &body)
                return nil
            }
        }
    }

    private var startLineTooLong: HTTPParseError {
        mode == .request
            ? HTTPParseError(.uriTooLong, "request line too long")
            : HTTPParseError(.headersTooLarge, "status line too long")
    }

    /// The length of the next CRLF-terminated line (without the CRLF) at the reader index, or nil if it has
    /// not fully arrived. Nothing is consumed: the caller parses the line in place (`peek`), then consumes it
    /// and its CRLF, so no line is copied out of the buffer. A bare LF, or a line longer than `limit`, is an error.
    private mutating func lineLength(
        _ buffer: ByteBuffer,
        limit: Int,
        overLimit: HTTPParseError
    ) throws(HTTPParseError) -> Int? {
        guard let lf = buffer.firstIndex(of: 0x0A, from: scanned) else {
            scanned = buffer.readableCount
            if scanned > limit { throw overLimit }
            return nil
        }
        scanned = 0
        if lf + 1 > limit { throw overLimit }
        guard lf > 0, buffer[lf - 1] == 0x0D else {
            throw HTTPParseError(.badRequest, "line not terminated by CRLF")
        }
        return lf - 1
    }

    private mutating func headerLineLength(_ buffer: ByteBuffer) throws(HTTPParseError) -> Int? {
        let remaining = limits.maxHeaderBytes - headerBytes
        let tooLarge = HTTPParseError(.headersTooLarge, "header section too large")
        guard let length = try lineLength(buffer, limit: remaining, overLimit: tooLarge) else { return nil }
        headerBytes += length + 2
        return length
    }

    private mutating func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        // request-line = method SP request-target SP HTTP-version (RFC 9112 section 3): exactly two spaces.
        guard let firstSpace = line.firstIndex(of: 0x20),
            let secondSpace = line[(firstSpace + 1)...].firstIndex(of: 0x20),
            !line[(secondSpace + 1)...].contains(0x20)
        else { throw HTTPParseError(.badRequest, "malformed request line") }
        let methodBytes = line[..<firstSpace]
        let targetBytes = line[(firstSpace + 1)..<secondSpace]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(HTTPParser.isTokenByte) else {
            throw HTTPParseError(.badRequest, "malformed method")
        }
        guard !targetBytes.isEmpty, targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPParseError(.badRequest, "malformed request target")
        }
        version = try HTTPParser.parseVersion(line[(secondSpace + 1)...])
        try RequestTarget.validate(target: targetBytes, method: methodBytes)
        method = String(decoding: methodBytes, as: UTF8.self)
        target = String(decoding: targetBytes, as: UTF8.self)
    }

    private mutating func parseStatusLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 section 4)
        let parts = line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[1].count == 3, parts[1].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw HTTPParseError(.badRequest, "malformed status line")
        }
        version = try HTTPParser.parseVersion(parts[0])
        let code = Int(String(decoding: parts[1], as: UTF8.self))!
        let reason = parts.count > 2 ? String(decoding: parts[2], as: UTF8.self) : ""
        status = HTTPStatus(code: code, reason: reason)
    }

    private static func parseVersion(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPVersion {
        // HTTP-version = "HTTP" "/" DIGIT "." DIGIT (case-sensitive)
        guard bytes.count == 8, bytes.starts(with: "HTTP/".utf8) else {
            throw HTTPParseError(.badRequest, "malformed HTTP version")
        }
        let major = bytes[bytes.startIndex + 5]
        let minor = bytes[bytes.startIndex + 7]
        guard bytes[bytes.startIndex + 6] == 0x2E, (0x30...0x39).contains(major), (0x30...0x39).contains(minor) else {
            throw HTTPParseError(.badRequest, "malformed HTTP version")
        }
        let version = HTTPVersion(major: Int(major - 0x30), minor: Int(minor - 0x30))
        guard version == .http1_1 || version == .http1_0 else {
            throw HTTPParseError(.versionNotSupported, "HTTP version not supported")
        }
        return version
    }

    /// Parses a field line; in a request's head, a `Host` field's value is checked here, on the line's bytes
    /// (RFC 9112 section 3.2), and counted for `headersComplete`.
    private mutating func parseField(_ line: ArraySlice<UInt8>, inHead: Bool) throws(HTTPParseError) -> (name: String, value: String) {
        // field-line = field-name ":" OWS field-value OWS (RFC 9112 section 5)
        if line.first == 0x20 || line.first == 0x09 {
            throw HTTPParseError(.badRequest, "obsolete line folding")
        }
        guard let colon = line.firstIndex(of: 0x3A) else { throw HTTPParseError(.badRequest, "header field without colon") }
        let name = line[..<colon]
        guard !name.isEmpty else { throw HTTPParseError(.badRequest, "empty header field name") }
        if name.last == 0x20 || name.last == 0x09 {
            throw HTTPParseError(.badRequest, "whitespace before colon in header field")
        }
        guard name.allSatisfy(HTTPParser.isTokenByte) else { throw HTTPParseError(.badRequest, "invalid header field name") }
        var start = colon + 1
        var end = line.endIndex
        while start < end && (line[start] == 0x20 || line[start] == 0x09) { start += 1 }
        while end > start && (line[end - 1] == 0x20 || line[end - 1] == 0x09) { end -= 1 }
        let value = line[start..<end]
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPParseError(.badRequest, "control character in header field value")
        }
        headerFieldCount += 1
        guard headerFieldCount <= limits.maxHeaderCount else { throw HTTPParseError(.headersTooLarge, "too many header fields") }
        if inHead, mode == .request, name.count == 4, name.elementsEqual("host".utf8, by: { $0 | 0x20 == $1 }) {
            hostCount += 1
            guard hostCount == 1 else { throw HTTPParseError(.badRequest, "missing or repeated Host header") }
            try RequestTarget.validate(authority: value, allowEmpty: true)
        }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    private mutating func headersComplete() throws(HTTPParseError) -> HTTPParserEvent {
        // One pass over the fields for the framing headers (the common head has one Content-Length and no
        // Transfer-Encoding, and is read without building a list of either).
        var hasTransferEncoding = false
        var lengthFields = 0
        var firstLength = ""
        for field in headers.fields {
            if field.name.asciiCaseInsensitiveEquals("Content-Length") {
                lengthFields += 1
                if lengthFields == 1 { firstLength = field.value }
            } else if field.name.asciiCaseInsensitiveEquals("Transfer-Encoding") {
                hasTransferEncoding = true
            }
        }
        var contentLength: Int?
        if lengthFields > 0 {
            // RFC 9112 section 6.3 lets a recipient accept a repeated identical value; any repetition is
            // refused here, as is a value too long to be a length: framing is never guessed at.
            guard lengthFields == 1, !firstLength.utf8.contains(0x2C) else {
                throw HTTPParseError(.badRequest, "repeated Content-Length")
            }
            let trimmed = firstLength[...].trimmingOWS()
            guard !trimmed.isEmpty, trimmed.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                throw HTTPParseError(.badRequest, "invalid Content-Length")
            }
            guard trimmed.utf8.count <= 15, let value = Int(trimmed) else { throw HTTPParseError(.badRequest, "Content-Length overflows") }
            guard value <= limits.maxBodyBytes else { throw HTTPParseError(.contentTooLarge, "body exceeds the limit") }
            contentLength = value
        }
        var chunked = false
        if hasTransferEncoding {
            let transferCodings = headers.tokens("Transfer-Encoding")
            // RFC 9112 section 6.1: Transfer-Encoding with Content-Length is a smuggling vector; reject it.
            guard contentLength == nil else {
                throw HTTPParseError(.badRequest, "both Content-Length and Transfer-Encoding")
            }
            if version == .http1_0 {
                throw HTTPParseError(.badRequest, "Transfer-Encoding in an HTTP/1.0 message")
            }
            guard transferCodings.allSatisfy({ $0 == "chunked" }) else {
                throw HTTPParseError(.notImplemented, "unsupported transfer coding")
            }
            guard transferCodings.count == 1 else { throw HTTPParseError(.badRequest, "chunked applied more than once") }
            chunked = true
        }
        headerBytes = 0
        body = []
        trailers = HTTPHeaders()
        switch mode {
        case .request:
            // RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host; in any version, more than one
            // or an invalid value is refused (those two are caught as the fields are parsed).
            guard hostCount == 1 || version == .http1_0 else {
                throw HTTPParseError(.badRequest, "missing or repeated Host header")
            }
            let head = RequestHead(method: method, target: target, version: version, headers: headers)
            if chunked {
                state = .chunkSize
            } else if let length = contentLength, length > 0 {
                state = .fixedBody(remaining: length)
            } else {
                state = .endPending
            }
            return .requestHead(head)
        case .response(let requestMethod):
            let head = ResponseHead(version: version, status: status, headers: headers)
            if status.code >= 100 && status.code < 200 {
                resetForNextMessage()
                return .responseHead(head)
            }
            if requestMethod == "HEAD" || status.code == 204 || status.code == 304 {
                state = .endPending
            } else if chunked {
                state = .chunkSize
            } else if let length = contentLength {
                state = length > 0 ? .fixedBody(remaining: length) : .endPending
            } else {
                state = .untilClose
            }
            return .responseHead(head)
        }
    }

    private func parseChunkSize(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        // chunk-size [ chunk-ext ] CRLF, chunk-size = 1*HEXDIG (RFC 9112 section 7.1)
        var size = 0
        var digits = 0
        var index = line.startIndex
        while index < line.endIndex, let digit = Hex.value(line[index]) {
            digits += 1
            guard digits <= 15 else { throw HTTPParseError(.badRequest, "chunk size too large") }
            size = size * 16 + Int(digit)
            index += 1
        }
        guard digits > 0 else { throw HTTPParseError(.badRequest, "invalid chunk size") }
        while index < line.endIndex && (line[index] == 0x20 || line[index] == 0x09) { index += 1 }
        if index < line.endIndex {
            guard line[index] == 0x3B, line[index...].allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                throw HTTPParseError(.badRequest, "invalid chunk size")
            }
        }
        return size
    }

    private mutating func endMessage() -> HTTPParserEvent {
        let event = HTTPParserEvent.end(body: body, trailers: trailers)
        resetForNextMessage()
        return event
    }

    private mutating func resetForNextMessage() {
        state = .startLine
        scanned = 0
        headerBytes = 0
        headerFieldCount = 0
        hostCount = 0
        sawStartLineBlank = false
        messageBodyLimit = nil
        headers = HTTPHeaders()
        trailers = HTTPHeaders()
        body = []
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        // tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }
}
