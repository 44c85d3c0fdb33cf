/// Text helpers the services need from Foundation's string extensions, which `FoundationEssentials` leaves
/// out (they live in the full Foundation with its internationalisation data).
extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (Foundation's `.whitespaces`: no line breaks).
    public func trimmingSpaces() -> String {
        trimming { $0 == " " || $0 == "\t" }
    }

    /// The text without leading and trailing white space and line breaks (Foundation's
    /// `.whitespacesAndNewlines`, by `Character.isWhitespace`).
    public func trimmingWhitespace() -> String {
        trimming(\.isWhitespace)
    }

    private func trimming(_ isTrimmed: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !isTrimmed($0) }), let last = lastIndex(where: { !isTrimmed($0) }) else { return "" }
        return String(self[first...last])
    }

    /// The text with every byte outside `allowed` written `%XX` (uppercase hex, RFC 3986 section 2.1).
    public func percentEncoded(allowing allowed: (UInt8) -> Bool) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        for byte in utf8 {
            if allowed(byte) {
                bytes.append(byte)
            } else {
                bytes += [UInt8(ascii: "%"), Hex.uppercase[Int(byte >> 4)], Hex.uppercase[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension UInt8 {
    /// An ASCII letter or digit.
    public var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
