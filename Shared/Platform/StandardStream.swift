import Glibc

/// Standard output and standard error written with write(2), unbuffered, as Foundation's
/// `FileHandle.standardError.write` did: a message is out before the process exits or is killed.
public enum StandardStream: Int32, Sendable {
    case output = 1
    case error = 2

    /// Writes all of `text`, going on after a partial write or EINTR; gives up on any other error.
    public func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(rawValue, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
