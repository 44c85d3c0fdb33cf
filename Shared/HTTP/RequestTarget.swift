import Glibc
import Platform

/// Checks on the request target and the `Host` field that the parser applies to every request, so that
/// no handler, router or database sees a path that means two things.
///
/// - The target is origin-form (`/a/b?q`), absolute-form (`http://host/a`, authority checked like
///   `Host`), or `*` for `OPTIONS` (RFC 9112 section 3.2).
/// - The path starts with a single `/` and has no empty, `.` or `..` segment (the router would drop or
///   fold them, so `//v1/x` would reach `/v1/x` past a prefix check); `/` alone is the root.
/// - Percent-encodings are well formed and decode to no control character and no NUL, in path and query
///   alike (a NUL cuts text short in the databases).
/// - `Host` (RFC 9110 section 7.2, RFC 3986 section 3.2.2): a reg-name, a dotted-decimal IPv4 address or a
///   bracketed IP literal, then optionally `:` and a decimal port of at most 65535.
enum RequestTarget {
    /// Why a target or authority was refused (a fixed phrase, never the bytes received).
    static func validate(target bytes: ArraySlice<UInt8>, method: ArraySlice<UInt8>) throws(HTTPParseError) {
        if bytes.count == 1 && bytes.first == 0x2A {
            // asterisk-form, for OPTIONS only.
            guard method.elementsEqual("OPTIONS".utf8) else { throw HTTPParseError(.badRequest, "asterisk target outside OPTIONS") }
            return
        }
        var rest = bytes
        if bytes.first != 0x2F {
            // absolute-form: scheme "://" authority path-abempty [ "?" query ]
            let lower = bytes.prefix(8).map { $0 | 0x20 }
            let schemeLength: Int
            if lower.starts(with: "http://".utf8) {
                schemeLength = 7
            } else if lower.starts(with: "https://".utf8) {
                schemeLength = 8
            } else {
                throw HTTPParseError(.badRequest, "request target must start with /")
            }
            let afterScheme = bytes.dropFirst(schemeLength)
            let end = afterScheme.firstIndex { $0 == 0x2F || $0 == 0x3F || $0 == 0x23 } ?? afterScheme.endIndex
            try validate(authority: afterScheme[afterScheme.startIndex..<end], allowEmpty: false)
            rest = afterScheme[end...]
            if rest.isEmpty { return }
            guard rest.first == 0x2F else { throw HTTPParseError(.badRequest, "request target must start with /") }
        }
        let queryStart = rest.firstIndex(of: 0x3F) ?? rest.endIndex
        let path = rest[rest.startIndex..<queryStart]
        guard !path.contains(0x23) else { throw HTTPParseError(.badRequest, "fragment in request target") }
        if path.count > 1 {
            // Segment by segment in place (every request has a target: no array of segments, no decoded copy).
            var start = path.startIndex + 1
            for index in start...path.endIndex where index == path.endIndex || path[index] == 0x2F {
                guard index > start else { throw HTTPParseError(.badRequest, "empty path segment") }
                let decoded = try scan(path[start..<index])
                guard !(decoded.dots == decoded.length && decoded.length <= 2) else {
                    throw HTTPParseError(.badRequest, "dot segment in path")
                }
                start = index + 1
            }
        }
        if queryStart < rest.endIndex {
            let query = rest[(queryStart + 1)...]
            guard !query.contains(0x23) else { throw HTTPParseError(.badRequest, "fragment in request target") }
            _ = try scan(query)
        }
    }

    /// Percent-decoding checked without keeping the result (a malformed escape, or a control character or
    /// NUL once decoded, is refused): the decoded length and how many decoded bytes are dots (a segment
    /// that is all dots, one or two of them, is a dot segment).
    static func scan(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> (length: Int, dots: Int) {
        var length = 0
        var dots = 0
        var index = bytes.startIndex
        while index < bytes.endIndex {
            var byte = bytes[index]
            if byte == 0x25 {
                guard index + 2 < bytes.endIndex, let high = Hex.value(bytes[index + 1]),
                    let low = Hex.value(bytes[index + 2])
                else { throw HTTPParseError(.badRequest, "malformed percent-encoding") }
                byte = UInt8(high * 16 + low)
                index += 3
            } else {
                index += 1
            }
            guard byte >= 0x20 && byte != 0x7F else { throw HTTPParseError(.badRequest, "control character in request target") }
            length += 1
            if byte == 0x2E { dots += 1 }
        }
        return (length, dots)
    }

    /// `host [ ":" port ]` of a `Host` field or an absolute-form target. `allowEmpty`: the empty `Host`
    /// that RFC 9110 section 7.2 prescribes when the target has no authority.
    static func validate(authority bytes: ArraySlice<UInt8>, allowEmpty: Bool) throws(HTTPParseError) {
        if bytes.isEmpty {
            guard allowEmpty else { throw HTTPParseError(.badRequest, "empty authority") }
            return
        }
        guard !bytes.contains(0x40) else { throw HTTPParseError(.badRequest, "userinfo in authority") }
        var host = bytes
        if bytes.first == 0x5B {
            // IP-literal = "[" ( IPv6address / IPvFuture ) "]"
            guard let close = bytes.firstIndex(of: 0x5D) else { throw HTTPParseError(.badRequest, "invalid Host") }
            host = bytes[bytes.startIndex...close]
            try validatePort(bytes[(close + 1)...])
            try validateIPLiteral(host.dropFirst().dropLast())
            return
        }
        if let colon = bytes.firstIndex(of: 0x3A) {
            host = bytes[bytes.startIndex..<colon]
            try validatePort(bytes[colon...])
        }
        guard !host.isEmpty else { throw HTTPParseError(.badRequest, "invalid Host") }
        try validateRegNameOrIPv4(host)
    }

    /// Empty, or ":" and 1 to 5 digits up to 65535.
    private static func validatePort(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) {
        if bytes.isEmpty { return }
        let digits = bytes.dropFirst()
        guard bytes.first == 0x3A, (1...5).contains(digits.count), let port = decimal(digits), port <= 65535 else {
            throw HTTPParseError(.badRequest, "invalid port in Host")
        }
    }

    /// The value of a run of ASCII digits (at most 5 here); nil when any byte is not a digit.
    private static func decimal(_ digits: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for digit in digits {
            guard (0x30...0x39).contains(digit) else { return nil }
            value = value * 10 + Int(digit - 0x30)
        }
        return value
    }

    private static func validateIPLiteral(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) {
        if bytes.first == 0x76 || bytes.first == 0x56 {
            // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
            let body = bytes.dropFirst()
            guard let dot = body.firstIndex(of: 0x2E), dot > body.startIndex,
                body[body.startIndex..<dot].allSatisfy({ Hex.value($0) != nil }),
                dot + 1 < body.endIndex, body[(dot + 1)...].allSatisfy({ isUnreserved($0) || isSubDelim($0) || $0 == 0x3A })
            else { throw HTTPParseError(.badRequest, "invalid IP literal in Host") }
            return
        }
        guard bytes.allSatisfy({ Hex.value($0) != nil || $0 == 0x3A || $0 == 0x2E }), bytes.count <= 45 else {
            throw HTTPParseError(.badRequest, "invalid IP literal in Host")
        }
        var address = in6_addr()
        let parsed = String(decoding: bytes, as: UTF8.self).withCString { inet_pton(AF_INET6, $0, &address) }
        guard parsed == 1 else { throw HTTPParseError(.badRequest, "invalid IP literal in Host") }
    }

    /// reg-name = *( unreserved / pct-encoded / sub-delims ). A name whose last label is numeric is read as
    /// an IPv4 address by resolvers, so it must then be a strict dotted-decimal one (no `0x7f.1`, no `1.2.3.999`).
    private static func validateRegNameOrIPv4(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == 0x25 {
                guard index + 2 < bytes.endIndex, Hex.value(bytes[index + 1]) != nil, Hex.value(bytes[index + 2]) != nil
                else { throw HTTPParseError(.badRequest, "invalid Host") }
                let value = Hex.value(bytes[index + 1])! * 16 + Hex.value(bytes[index + 2])!
                guard value >= 0x20 && value != 0x7F else { throw HTTPParseError(.badRequest, "invalid Host") }
                index += 3
                continue
            }
            guard isUnreserved(byte) || isSubDelim(byte) else { throw HTTPParseError(.badRequest, "invalid Host") }
            index += 1
        }
        // The labels between dots, empty ones kept, walked in place (every request has a Host: no array, no
        // string per label). The last non-empty label (else the first) says whether the host is a number.
        var count = 0
        var first = bytes.startIndex..<bytes.startIndex
        var last: Range<Int>?
        var start = bytes.startIndex
        for index in bytes.startIndex...bytes.endIndex where index == bytes.endIndex || bytes[index] == 0x2E {
            if count == 0 { first = start..<index }
            if start < index { last = start..<index }
            count += 1
            start = index + 1
        }
        let final = bytes[last ?? first]
        let numeric =
            final.allSatisfy({ (0x30...0x39).contains($0) })
            || (final.count >= 2 && final.first! | 0x20 == 0x30 && final[final.startIndex + 1] | 0x20 == 0x78
                && final.dropFirst(2).allSatisfy { Hex.value($0 | 0x20) != nil })
        guard numeric else { return }
        guard count == 4 else { throw HTTPParseError(.badRequest, "invalid IPv4 address in Host") }
        start = bytes.startIndex
        for index in bytes.startIndex...bytes.endIndex where index == bytes.endIndex || bytes[index] == 0x2E {
            let label = bytes[start..<index]
            guard (1...3).contains(label.count), label.count == 1 || label.first != 0x30, let value = decimal(label), value <= 255 else {
                throw HTTPParseError(.badRequest, "invalid IPv4 address in Host")
            }
            start = index + 1
        }
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: return true
        default: return false
        }
    }

    private static func isSubDelim(_ byte: UInt8) -> Bool {
        // "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="
        switch byte {
        case 0x21, 0x24, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x3B, 0x3D: return true
        default: return false
        }
    }
}
