/// Hexadecimal text of bytes (digests, keys, ids, percent-escapes), without `String(format:)`.
public enum Hex {
    /// The digits `0-9a-f`, by value.
    public static let lowercase = Array("0123456789abcdef".utf8)
    /// The digits `0-9A-F`, by value (percent-encoding, RFC 3986 section 2.1).
    public static let uppercase = Array("0123456789ABCDEF".utf8)

    /// Lowercase hexadecimal text of `bytes`, two digits each.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(lowercase[Int(byte >> 4)])
            out.append(lowercase[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
