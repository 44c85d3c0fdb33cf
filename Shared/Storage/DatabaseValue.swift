import FoundationEssentials
import Glibc

/// A value bound to a statement parameter or read from a column.
///
/// SQLite stores booleans as integers and dates and UUIDs as text; PostgreSQL has native types for
/// them. Decoding accepts either representation, so one store works on both backends.
public enum DatabaseValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case bool(Bool)
    case date(Date)
    case uuid(UUID)
}

/// A Swift type that can be bound as a parameter and decoded from a column.
public protocol DatabaseValueConvertible: Sendable {
    var databaseValue: DatabaseValue { get }
    static func decode(_ value: DatabaseValue) -> Self?
}

extension Int64: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .integer(self) }
    public static func decode(_ value: DatabaseValue) -> Int64? {
        switch value {
        case .integer(let v): return v
        case .text(let s): return Int64(s)
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
}

extension Int: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .integer(Int64(self)) }
    public static func decode(_ value: DatabaseValue) -> Int? { Int64.decode(value).map { Int($0) } }
}

extension Double: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .real(self) }
    public static func decode(_ value: DatabaseValue) -> Double? {
        switch value {
        case .real(let v): return v
        case .integer(let v): return Double(v)
        case .text(let s): return Double(s)
        default: return nil
        }
    }
}

extension String: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .text(self) }
    public static func decode(_ value: DatabaseValue) -> String? {
        switch value {
        case .text(let s): return s
        case .integer(let v): return String(v)
        case .uuid(let u): return u.uuidString.lowercased()
        default: return nil
        }
    }
}

extension Bool: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .bool(self) }
    public static func decode(_ value: DatabaseValue) -> Bool? {
        switch value {
        case .bool(let b): return b
        case .integer(let v): return v != 0
        case .text(let s): return s == "t" || s == "true" || s == "1"
        default: return nil
        }
    }
}

extension Array: DatabaseValueConvertible where Element == UInt8 {
    public var databaseValue: DatabaseValue { .blob(self) }
    public static func decode(_ value: DatabaseValue) -> [UInt8]? {
        if case .blob(let bytes) = value { return bytes }
        return nil
    }
}

extension Date: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .date(self) }
    public static func decode(_ value: DatabaseValue) -> Date? {
        switch value {
        case .date(let d): return d
        case .text(let s): return Timestamp.parse(s)
        case .integer(let v): return Date(timeIntervalSince1970: Double(v))
        default: return nil
        }
    }
}

extension UUID: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .uuid(self) }
    public static func decode(_ value: DatabaseValue) -> UUID? {
        switch value {
        case .uuid(let u): return u
        case .text(let s): return UUID(uuidString: s)
        default: return nil
        }
    }
}

extension Optional: DatabaseValueConvertible where Wrapped: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { self?.databaseValue ?? .null }
    public static func decode(_ value: DatabaseValue) -> Wrapped?? {
        if case .null = value { return .some(nil) }
        return Wrapped.decode(value).map { .some($0) }
    }
}

/// UTC timestamps as text: `2026-11-22T01:27:23.123456Z`, which sorts in time order in SQLite.
public enum Timestamp {
    /// Formats with microseconds, UTC.
    public static func format(_ date: Date) -> String {
        var seconds = floor(date.timeIntervalSince1970)
        var micros = Int(((date.timeIntervalSince1970 - seconds) * 1_000_000).rounded())
        if micros >= 1_000_000 {
            seconds += 1
            micros -= 1_000_000
        }
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        // Digits appended by hand: String(format:) showed in profiles, and every write stamps a time.
        var bytes = [UInt8](repeating: 0, count: 27)
        func put(_ value: Int, _ at: Int, _ width: Int) {
            var v = value
            for i in stride(from: at + width - 1, through: at, by: -1) {
                bytes[i] = UInt8(0x30 + v % 10)
                v /= 10
            }
        }
        put(Int(parts.tm_year) + 1900, 0, 4)
        bytes[4] = 0x2D
        put(Int(parts.tm_mon) + 1, 5, 2)
        bytes[7] = 0x2D
        put(Int(parts.tm_mday), 8, 2)
        bytes[10] = 0x54
        put(Int(parts.tm_hour), 11, 2)
        bytes[13] = 0x3A
        put(Int(parts.tm_min), 14, 2)
        bytes[16] = 0x3A
        put(Int(parts.tm_sec), 17, 2)
        bytes[19] = 0x2E
        put(micros, 20, 6)
        bytes[26] = 0x5A
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|+00|+00:00|±hh[:mm]]`, the forms SQLite text and PostgreSQL's ISO output use.
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 19 else { return nil }
        func number(_ start: Int, _ count: Int) -> Int? {
            var value = 0
            for i in start..<(start + count) {
                guard i < b.count, b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                value = value * 10 + Int(b[i] - 0x30)
            }
            return value
        }
        guard let year = number(0, 4), b[4] == 0x2D, let month = number(5, 2), b[7] == 0x2D, let day = number(8, 2),
            b[10] == 0x54 || b[10] == 0x20, let hour = number(11, 2), b[13] == 0x3A, let minute = number(14, 2), b[16] == 0x3A,
            let second = number(17, 2)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < b.count && b[index] == 0x2E {
            index += 1
            var scale = 0.1
            while index < b.count, b[index] >= 0x30, b[index] <= 0x39 {
                fraction += Double(b[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
        }
        var offsetSeconds = 0
        if index < b.count {
            if b[index] == 0x5A {
                index += 1
            } else if b[index] == 0x2B || b[index] == 0x2D {
                let sign = b[index] == 0x2D ? -1 : 1
                guard let hours = number(index + 1, 2) else { return nil }
                index += 3
                var minutes = 0
                if index < b.count && b[index] == 0x3A { index += 1 }
                if index + 1 < b.count, let m = number(index, 2) {
                    minutes = m
                    index += 2
                }
                offsetSeconds = sign * (hours * 3600 + minutes * 60)
            }
        }
        guard index == b.count else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch - offsetSeconds) + fraction)
    }
}

/// An enum of text values (the contracts' statuses) is stored as its raw value.
extension DatabaseValueConvertible where Self: RawRepresentable, RawValue == String {
    public var databaseValue: DatabaseValue { .text(rawValue) }
    public static func decode(_ value: DatabaseValue) -> Self? { String.decode(value).flatMap(Self.init(rawValue:)) }
}
