import Testing

@testable import HTTP

/// What parsing a byte stream produced: requests in order, then the error that stopped it, if any.
struct ParseOutcome: Equatable {
    var requests: [Parsed] = []
    var error: HTTPParseError.Kind?

    struct Parsed: Equatable {
        var head: RequestHead
        var body: String
        var trailers: HTTPHeaders
    }
}

/// Feeds `text` in pieces of `chunk` bytes (0: all at once) and collects every event.
func parse(_ text: String, chunk: Int = 0, limits: HTTPParserLimits = HTTPParserLimits()) -> ParseOutcome {
    var parser = HTTPParser(mode: .request, limits: limits)
    var buffer = ByteBuffer()
    var outcome = ParseOutcome()
    var head: RequestHead?
    let bytes = Array(text.utf8)
    let pieces: [ArraySlice<UInt8>] =
        chunk == 0 ? [bytes[...]] : stride(from: 0, to: bytes.count, by: chunk).map { bytes[$0..<min($0 + chunk, bytes.count)] }
    do {
        for piece in pieces {
            buffer.append(contentsOf: piece)
            while let event = try parser.next(&buffer) {
                switch event {
                case .requestHead(let h): head = h
                case .end(let body, let trailers):
                    outcome.requests.append(.init(head: head!, body: String(decoding: body, as: UTF8.self), trailers: trailers))
                case .responseHead: break
                }
            }
        }
    } catch {
        outcome.error = error.kind
    }
    return outcome
}

/// The same stream must give the same outcome whole, byte by byte, and in odd-sized pieces.
func parseEveryWay(_ text: String, limits: HTTPParserLimits = HTTPParserLimits()) -> ParseOutcome {
    let whole = parse(text, limits: limits)
    #expect(parse(text, chunk: 1, limits: limits) == whole, "byte by byte differs from whole")
    #expect(parse(text, chunk: 7, limits: limits) == whole, "7-byte pieces differ from whole")
    return whole
}

@Suite("HTTP/1.1 request parser (RFC 9112)")
struct HTTPParserTests {
    /// Field names compare byte for byte with ASCII letters folded, and nothing else folded.
    @Test func fieldNamesCompareWithASCIILettersFolded() {
        func reference(_ a: String, _ b: String) -> Bool {
            let fold = { (byte: UInt8) -> UInt8 in (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }
            return a.utf8.map(fold) == b.utf8.map(fold)
        }
        let names = [
            "Host", "host", "HOST", "Date", "Content-Length", "content-length", "CONTENT-LENGTH", "Content-Lengti", "X-Request-ID",
            "x-request-id", "[", "{", "@", "`", "é", "É", "", "Transfer-Encoding-With-A-Long-Name", "transfer-encoding-with-a-long-name",
            "Transfer-Encoding-With-A-Long-Namf",
        ]
        for a in names {
            for b in names {
                #expect(a.asciiCaseInsensitiveEquals(b) == reference(a, b), "\(a) vs \(b)")
                var headers = HTTPHeaders()
                headers.add(name: a, value: "v")
                #expect((headers[b] != nil) == reference(a, b))
            }
        }
    }

    @Test func simpleGet() {
        let outcome = parseEveryWay("GET /v1/products?limit=5 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.requests.count == 1)
        let request = outcome.requests[0]
        #expect(request.head.method == "GET")
        #expect(request.head.target == "/v1/products?limit=5")
        #expect(request.head.version == .http1_1)
        #expect(request.head.headers["host"] == "example")
        #expect(request.head.headers["ACCEPT"] == "*/*")
        #expect(request.body == "")
    }

    @Test func contentLengthBody() {
        let outcome = parseEveryWay("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
        #expect(outcome.requests.map(\.body) == ["hello world"])
        #expect(outcome.error == nil)
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() {
        let text =
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nChecksum: abc\r\nX-Done: yes\r\n\r\n"
        let outcome = parseEveryWay(text)
        #expect(outcome.error == nil)
        #expect(outcome.requests.first?.body == "hello world")
        #expect(outcome.requests.first?.trailers["checksum"] == "abc")
        #expect(outcome.requests.first?.trailers["X-Done"] == "yes")
    }

    @Test func pipelinedRequestsComeOutInOrder() {
        let text =
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" + "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            + "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" + "GET /d HTTP/1.1\r\nHost: x\r\n\r\n"
        let outcome = parseEveryWay(text)
        #expect(outcome.error == nil)
        #expect(outcome.requests.map(\.head.target) == ["/a", "/b", "/c", "/d"])
        #expect(outcome.requests.map(\.body) == ["", "abc", "hi", ""])
    }

    @Test func http10WithoutHostIsAccepted() {
        let outcome = parseEveryWay("GET / HTTP/1.0\r\n\r\n")
        #expect(outcome.requests.first?.head.version == .http1_0)
        #expect(outcome.requests.first?.head.keepAlive == false)
    }

    @Test func keepAliveRules() {
        #expect(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n").requests[0].head.keepAlive)
        #expect(!parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").requests[0].head.keepAlive)
        #expect(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").requests[0].head.keepAlive)
    }

    @Test func leadingEmptyLineIsIgnored() {
        let outcome = parseEveryWay("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(outcome.requests.count == 1)
    }

    @Test func optionalWhitespaceAroundValuesIsTrimmed() {
        let outcome = parseEveryWay("GET / HTTP/1.1\r\nHost: x\r\nX-A: \t padded \t \r\nX-Empty:\r\n\r\n")
        #expect(outcome.requests.first?.head.headers["X-A"] == "padded")
        #expect(outcome.requests.first?.head.headers["X-Empty"] == "")
    }

    @Test("a repeated or overflowing Content-Length is a 400 as soon as the head is read, never waited on")
    func contentLengthIsOneSmallNumber() {
        for text in [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\n",
        ] {
            // No body bytes follow: the error must come from the head alone.
            #expect(parseEveryWay(text).error == .badRequest, "\(text)")
        }
        #expect(parseEveryWay("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n").error == .contentTooLarge)
    }

    @Test(
        "request targets: a single leading slash, no empty or dot segments, no control character or NUL once decoded",
        arguments: [
            "//v1/orders/1", "/v1//orders", "/v1/orders/", "/v1/./orders", "/v1/../admin", "/v1/%2e%2e/admin", "/v1/%2E/x", "/v1/%2E.",
            "/v1/orders/a%00b", "/v1/orders/%0a", "/v1/orders/%7f", "/v1/orders/%zz", "/v1/orders/%4", "/v1/products?q=%00",
            "/v1/products?q=%0d%0a", "v1/orders", "*", "http://x//v1", "http://user@x/v1", "http://x:99999/", "ftp://x/",
            "/v1/orders#frag",
        ]
    )
    func refusedTargets(_ target: String) {
        let outcome = parseEveryWay("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(outcome.error == .badRequest)
    }

    @Test func acceptedTargets() {
        let dotted = ["/v1/.../x", "/v1/%2e%2e%2e", "/.well-known/x", "/v1/a.b", "/v1/..x"]
        for target in ["/", "/v1/orders/abc", "/v1/products?limit=5&q=a%20b", "/v1/products/SKU%2D1", "http://example:8080/v1/x", "/a?"]
            + dotted
        {
            #expect(parseEveryWay("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n").requests.count == 1, "\(target)")
        }
        #expect(parseEveryWay("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").requests.count == 1)
    }

    @Test(
        "Host: a reg-name, a dotted-decimal IPv4 address or a bracketed IP literal, then a numeric port",
        arguments: [
            "a b", "x:", "x:port", "x:65536", "x:123456", "x:-1", "[::1", "[::1]x", "[zz::1]", "[::1]:", "user@x", "x/y", "x?y",
            "1.2.3.256", "1.2.3", "0x7f.1", "127.1", "01.2.3.4", "1.2.3.4.", "x%00", "x%zz", "[v1]", ":80", "a:b:c",
            "1.2.3.0x", "...", ".", "0X1f.0.0.1", "256.1.1.1", "1.2.3.4:65536", "1.2.3.4:", "1.2.3.04",
        ]
    )
    func refusedHosts(_ host: String) {
        #expect(parseEveryWay("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n").error == .badRequest)
        #expect(parseEveryWay("GET / HTTP/1.0\r\nHost: \(host)\r\n\r\n").error == .badRequest, "HTTP/1.0 alike")
    }

    @Test func acceptedHosts() {
        for host in [
            "example.com", "example.com:8080", "localhost", "127.0.0.1:80", "[::1]", "[::1]:8080", "[v7.fe:80]", "a-b_c~d.e", "x%41", "",
            "255.255.255.255", "0.0.0.0:65535", "a.b.1x", "x:00080", "example.com.", "10.0.0.1:0",
        ] {
            #expect(parseEveryWay("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n").requests.count == 1, "\(host)")
        }
        #expect(parseEveryWay("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n").error == .badRequest)
    }

    @Test(
        "malformed requests are refused with the right status",
        arguments: [
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", HTTPParseError.Kind.badRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", .badRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd", .badRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", .badRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", .badRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", .notImplemented),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .notImplemented),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", .badRequest),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .badRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", .badRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", .badRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", .badRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", .badRequest),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n", .badRequest),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n", .badRequest),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-Space : a\r\n\r\n", .badRequest),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-Ctl: a\u{01}b\r\n\r\n", .badRequest),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-Del: a\u{7F}b\r\n\r\n", .badRequest),
            ("GET / HTTP/1.1\r\nHost: x\r\nX\u{01}Name: a\r\n\r\n", .badRequest),
            ("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", .badRequest),
            ("GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n", .badRequest),
            ("GET / HTTP/1.1\r\n\r\n", .badRequest),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .badRequest),
            ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", .versionNotSupported),
            ("GET / HTTP/1.2\r\nHost: x\r\n\r\n", .versionNotSupported),
            ("GET / HTTP/x.1\r\nHost: x\r\n\r\n", .badRequest),
            ("GET / http/1.1\r\nHost: x\r\n\r\n", .badRequest),
            ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", .badRequest),
            ("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", .badRequest),
            ("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", .badRequest),
            ("GET / HTTP/1.1\nHost: x\n\n", .badRequest),
            ("GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", .badRequest),
        ]
    )
    func refused(_ text: String, _ kind: HTTPParseError.Kind) {
        let outcome = parseEveryWay(text)
        #expect(outcome.requests.isEmpty)
        #expect(outcome.error == kind)
    }

    @Test func statusesOfTheErrors() {
        #expect(HTTPParseError(.badRequest, "").status.code == 400)
        #expect(HTTPParseError(.uriTooLong, "").status.code == 414)
        #expect(HTTPParseError(.headersTooLarge, "").status.code == 431)
        #expect(HTTPParseError(.contentTooLarge, "").status.code == 413)
        #expect(HTTPParseError(.versionNotSupported, "").status.code == 505)
        #expect(HTTPParseError(.notImplemented, "").status.code == 501)
    }

    @Test func startLineOverTheLimit() {
        let limits = HTTPParserLimits(maxStartLineBytes: 64)
        let long = "GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\nHost: x\r\n\r\n"
        #expect(parseEveryWay(long, limits: limits).error == .uriTooLong)
        // Without a line end at all, the limit still applies once exceeded.
        #expect(parse("GET /" + String(repeating: "a", count: 100), limits: limits).error == .uriTooLong)
        #expect(parse("GET /" + String(repeating: "a", count: 30), limits: limits).error == nil)
    }

    @Test func headerSectionOverTheLimit() {
        let limits = HTTPParserLimits(maxHeaderBytes: 256)
        let big = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "b", count: 300) + "\r\n\r\n"
        #expect(parseEveryWay(big, limits: limits).error == .headersTooLarge)
        let many = "GET / HTTP/1.1\r\nHost: x\r\n" + (0..<20).map { "X-\($0): 1\r\n" }.joined() + "\r\n"
        #expect(parseEveryWay(many, limits: HTTPParserLimits(maxHeaderCount: 10)).error == .headersTooLarge)
        #expect(parseEveryWay(many, limits: HTTPParserLimits(maxHeaderCount: 21)).error == nil)
    }

    @Test func bodyOverTheLimit() {
        let limits = HTTPParserLimits(maxBodyBytes: 10)
        #expect(parseEveryWay("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", limits: limits).error == .contentTooLarge)
        let chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"
        #expect(parseEveryWay(chunked, limits: limits).error == .contentTooLarge)
        #expect(parseEveryWay("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits).error == nil)
    }

    @Test func aFailedParserStaysFailed() {
        var parser = HTTPParser()
        var buffer = ByteBuffer(string: "GET / HTTP/9.9\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(throws: HTTPParseError.self) { try parser.next(&buffer) }
        #expect(throws: HTTPParseError.self) { try parser.next(&buffer) }
    }

    @Test func truncatedMessageAtEndOfStream() {
        var parser = HTTPParser()
        var buffer = ByteBuffer(string: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab")
        _ = try? parser.next(&buffer)
        _ = try? parser.next(&buffer)
        #expect(throws: HTTPParseError.self) { try parser.finish(&buffer) }
    }
}

@Suite("HTTP/1.1 response parser")
struct ResponseParserTests {
    func responses(_ text: String, method: String = "GET", chunk: Int = 0, eof: Bool = false) throws -> [(Int, String)] {
        var parser = HTTPParser(mode: .response(requestMethod: method))
        var buffer = ByteBuffer()
        var out: [(Int, String)] = []
        var status = 0
        let bytes = Array(text.utf8)
        let pieces =
            chunk == 0 ? [bytes[...]] : stride(from: 0, to: bytes.count, by: chunk).map { bytes[$0..<min($0 + chunk, bytes.count)] }
        for piece in pieces {
            buffer.append(contentsOf: piece)
            while let event = try parser.next(&buffer) {
                if case .responseHead(let head) = event {
                    if head.status.code < 200 { out.append((head.status.code, "")) } else { status = head.status.code }
                }
                if case .end(let body, _) = event { out.append((status, String(decoding: body, as: UTF8.self))) }
            }
        }
        if eof, case .end(let body, _)? = try parser.finish(&buffer) {
            out.append((status, String(decoding: body, as: UTF8.self)))
        }
        return out
    }

    @Test(arguments: [0, 1, 5])
    func framings(chunk: Int) throws {
        let cl = try responses("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", chunk: chunk)
        #expect(cl.map(\.1) == ["hi"])
        let chunked = try responses("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", chunk: chunk)
        #expect(chunked.map(\.0) == [201])
        #expect(chunked.map(\.1) == ["abc"])
        let closeDelimited = try responses("HTTP/1.1 200 OK\r\n\r\nuntil the end", chunk: chunk, eof: true)
        #expect(closeDelimited.map(\.1) == ["until the end"])
        let interim = try responses("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", chunk: chunk)
        #expect(interim.map(\.0) == [100, 204])
        let head = try responses("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", method: "HEAD", chunk: chunk)
        #expect(head.map(\.1) == [""])
        let reasonless = try responses("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", chunk: chunk)
        #expect(reasonless.map(\.0) == [404])
    }

    @Test func malformedStatusLine() {
        #expect(throws: HTTPParseError.self) { try responses("HTTP/1.1 2000 OK\r\n\r\n") }
        #expect(throws: HTTPParseError.self) { try responses("HTTX/1.1 200 OK\r\n\r\n") }
    }
}
