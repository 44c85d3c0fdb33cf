/// Text helpers the services need from Foundation's string extensions, which `FoundationEssentials` leaves
/// out (they live in the full Foundation with its internationalisation data).
extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (Foundation's `.whitespaces`: no line breaks).
    public func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }

    /// The text with every byte outside `allowed` written `%XX` (uppercase hex, RFC 3986 section 2.1); the
    /// unreserved characters and the sub-delimiters `allowed` lists stay as they are.
    public func percentEncoded(allowing allowed: (UInt8) -> Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        for byte in utf8 {
            if allowed(byte) {
                bytes.append(byte)
            } else {
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension StringProtocol {
    /// The text without leading and trailing white space and line breaks (Foundation's
    /// `.whitespacesAndNewlines`, by `Character.isWhitespace`).
    public func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }) else { return "" }
        let last = lastIndex(where: { !$0.isWhitespace })!
        return String(self[first...last])
    }
}

extension UInt8 {
    /// An ASCII letter or digit.
    public var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
