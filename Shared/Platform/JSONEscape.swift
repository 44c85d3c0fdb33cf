/// A JSON string's escapes (RFC 8259 section 7), decoded the same way by every reader of ours.
public enum JSONEscape {
    /// Decodes the escape whose letter (the byte after the backslash) is at `position`, appends its UTF-8 to
    /// `out` and moves `position` past it. Returns false, with `position` at the offending byte, for an
    /// unknown letter, a `\u` without four hexadecimal digits, or a surrogate without its other half.
    @inlinable
    public static func decode<Bytes: RandomAccessCollection<UInt8>>(
        _ bytes: Bytes,
        at position: inout Int,
        into out: inout [UInt8]
    ) -> Bool where Bytes.Index == Int {
        guard position < bytes.endIndex else { return false }
        let letter = bytes[position]
        position += 1
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(letter)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            guard var scalar = hex4(bytes, at: &position) else { return false }
            if (0xD800..<0xDC00).contains(scalar) {
                // A high surrogate must be followed by an escaped low one.
                guard position + 1 < bytes.endIndex, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                else { return false }
                position += 2
                guard let low = hex4(bytes, at: &position), (0xDC00..<0xE000).contains(low) else { return false }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                return false
            }
            guard let unicode = Unicode.Scalar(scalar) else { return false }
            out.append(contentsOf: UTF8.encode(unicode)!)
        default:
            position -= 1
            return false
        }
        return true
    }

    @inlinable @usableFromInline
    static func hex4<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, at position: inout Int) -> UInt32?
    where Bytes.Index == Int {
        guard position + 4 <= bytes.endIndex else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = Hex.value(bytes[position]) else { return nil }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}
