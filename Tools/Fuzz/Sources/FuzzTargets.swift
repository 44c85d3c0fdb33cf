import Contracts
import Foundation
import HTTP

/// libFuzzer targets for what reads untrusted bytes: the request parser (whole and split at points the
/// input chooses, which must agree), the chunked decoder, the client's response parser, the JSON
/// bodies of the public routes (`JSONReader` reading what `JSONDecoder` reads), and the JSON scanner that
/// reads feed pages. `FUZZ_TARGET` picks one. Built with `-sanitize=fuzzer,address` by
/// `make fuzz`; built plainly, the executable replays files (the seed corpus) through a target.
enum FuzzTargets {
    static let names = ["request", "chunked", "response", "json", "scanner"]

    static func run(_ target: String, _ bytes: [UInt8]) {
        switch target {
        case "request": request(bytes)
        case "chunked": chunked(bytes)
        case "response": response(bytes)
        case "json": json(bytes)
        case "scanner": scanner(bytes)
        default: fatalError("FUZZ_TARGET must be one of \(names)")
        }
    }

    /// What parsing produced: heads and bodies in order, then the error kind, if any.
    struct Outcome: Equatable {
        enum Event: Equatable {
            case request(RequestHead)
            case response(ResponseHead)
            case end(body: [UInt8], trailers: HTTPHeaders)
        }

        var events: [Event] = []
        var error: HTTPParseError.Kind?
    }

    static func parse(_ pieces: [ArraySlice<UInt8>], mode: HTTPParser.Mode, limits: HTTPParserLimits) -> Outcome {
        var parser = HTTPParser(mode: mode, limits: limits)
        var buffer = ByteBuffer()
        var outcome = Outcome()
        do {
            for piece in pieces {
                buffer.append(contentsOf: piece)
                while let event = try parser.next(&buffer) { outcome.events.append(describe(event)) }
            }
            if case .response = mode, let event = try parser.finish(&buffer) { outcome.events.append(describe(event)) }
        } catch {
            outcome.error = error.kind
        }
        return outcome
    }

    static func describe(_ event: HTTPParserEvent) -> Outcome.Event {
        switch event {
        case .requestHead(let head):
            _ = head.path
            return .request(head)
        case .responseHead(let head): return .response(head)
        case .end(let body, let trailers): return .end(body: body, trailers: trailers)
        }
    }

    /// Small limits, so the fuzzer reaches every limit check quickly.
    static let limits = HTTPParserLimits(maxStartLineBytes: 256, maxHeaderBytes: 1024, maxHeaderCount: 16, maxBodyBytes: 4096)

    /// The first byte chooses where the rest is split (pieces of 1 to 17 bytes, so single bytes too); whole
    /// and split must give the same outcome.
    static func request(_ bytes: [UInt8]) {
        guard let seed = bytes.first else { return }
        let input = bytes.dropFirst()
        let whole = parse([input], mode: .request, limits: limits)
        var pieces: [ArraySlice<UInt8>] = []
        var index = input.startIndex
        var step = Int(seed % 13) + 1
        while index < input.endIndex {
            let end = min(index + step, input.endIndex)
            pieces.append(input[index..<end])
            index = end
            step = (step * 7 + Int(seed)) % 17 + 1
        }
        let split = parse(pieces, mode: .request, limits: limits)
        guard split == whole else { fatalError("split input parsed differently: \(whole) vs \(split)") }
    }

    static let chunkedHead = Array("POST /echo HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

    static func chunked(_ bytes: [UInt8]) {
        let outcome = parse([chunkedHead[...], bytes[...]], mode: .request, limits: limits)
        // A body is never larger than the limit, whatever the chunk sizes claim.
        for case .end(let body, _) in outcome.events where body.count > limits.maxBodyBytes {
            fatalError("a body of \(body.count) bytes passed the limit")
        }
    }

    static func response(_ bytes: [UInt8]) {
        for method in ["GET", "HEAD"] {
            _ = parse([bytes[...]], mode: .response(requestMethod: method), limits: limits)
        }
    }

    /// The public routes' bodies, decoded as the handlers decode them: a value or a 4xx problem, never a crash.
    static func json(_ bytes: [UInt8]) {
        let request = Request(method: "POST", target: "/v1/checkout", headers: [("Content-Type", "application/json")], body: bytes)
        func check<T: Codable>(_ type: T.Type) {
            // What JSONReader reads, JSONDecoder reads the same (compared by their text written again).
            if let mine = try? JSONReader.decode(type, from: bytes) {
                guard let theirs = try? JSON.decoder().decode(type, from: Data(bytes)),
                    (try? JSON.encode(mine)) == (try? JSON.encode(theirs))
                else { fatalError("JSONReader read a text differently from JSONDecoder") }
            }
            do {
                _ = try request.decode(type)
            } catch let error as HTTPError {
                guard (400..<500).contains(error.status.code) else { fatalError("a client's body gave \(error.status.code)") }
            } catch {
                fatalError("decoding threw something other than a problem: \(error)")
            }
        }
        check(GatewayAPI.Checkout.self)
        check(InventoryAPI.CreateProduct.self)
        check(InventoryAPI.SetStock.self)
    }

    /// The JSON scanner (feed pages): any bytes end in a value or `ScanError`, never a crash or a hang; an
    /// accepted value's raw text scans again to the same length.
    static func scanner(_ bytes: [UInt8]) {
        var scanner = JSONScanner(bytes)
        guard let range = try? scanner.skipValue() else { return }
        var again = JSONScanner(Array(bytes[range]))
        guard let second = try? again.skipValue(), second == 0..<range.count, again.atEnd() else {
            fatalError("an accepted value does not scan again whole")
        }
    }
}
