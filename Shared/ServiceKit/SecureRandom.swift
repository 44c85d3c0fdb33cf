import CSystem
import Glibc
import Synchronization

/// Random numbers for identifiers that act as capabilities (checkout, order, payment and shipment ids)
/// and for request, trace and span ids: the kernel's CSPRNG (`getrandom(2)`), read 4 KiB at a time.
///
/// Reading in blocks keeps the cost of a value off the profile (a system call per value was the top cost
/// of a request once), and every byte handed out is wiped from the buffer, so the process never holds
/// output it has already used. Unlike a seeded generator, no output reveals any other: a trace id seen in
/// a log says nothing about the next order id.
public struct SecureRandom: RandomNumberGenerator, Sendable {
    private static let pool = Mutex(Pool())

    public init() {}

    public mutating func next() -> UInt64 {
        SecureRandom.pool.withLock { $0.next() }
    }

    /// Fills `count` bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { buffer in
            var filled = 0
            while filled < count {
                let got = getrandom(buffer.baseAddress! + filled, count - filled, 0)
                if got > 0 { filled += got } else { precondition(errno == EINTR, "getrandom failed") }
            }
        }
        return out
    }

    private struct Pool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var offset = 4096

        mutating func next() -> UInt64 {
            if offset + 8 > buffer.count {
                buffer = SecureRandom.bytes(buffer.count)
                offset = 0
            }
            var value: UInt64 = 0
            for index in 0..<8 {
                value = value << 8 | UInt64(buffer[offset + index])
                buffer[offset + index] = 0
            }
            offset += 8
            return value
        }
    }
}
