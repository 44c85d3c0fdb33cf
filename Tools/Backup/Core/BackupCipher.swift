import Crypto
import Foundation

/// Encryption of backup files with AES-256-GCM (swift-crypto), in chunks so a file of any size streams.
///
/// Layout: the magic `SMBK1\n`, then chunks of `[4-byte big-endian length][nonce | ciphertext | tag]`, each
/// sealing up to 1 MiB. A chunk's authenticated data names the file, the chunk's index and whether it is the
/// last, so chunks cannot be reordered, moved to another file or cut off at the end without the open failing.
public struct BackupCipher: Sendable {
    static let magic = Array("SMBK1\n".utf8)
    static let chunkSize = 1 << 20

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The derived key's bytes (`SymmetricKey` is not `Sendable`; one is made for each use).
    let keyBytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }
    /// A short public id of the key (an HMAC of a fixed text), kept in the manifest to tell a wrong key apart
    /// from a damaged file.
    public let keyId: String

    /// The key is derived from `BACKUP_KEY`'s text with HKDF-SHA256.
    public init(secret: String) {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(secret.utf8)),
            salt: Data("sagamart-backup".utf8),
            info: Data("aes-256-gcm v1".utf8),
            outputByteCount: 32
        )
        keyBytes = key.withUnsafeBytes { Array($0) }
        keyId = HMAC<SHA256>.authenticationCode(for: Data("key-id".utf8), using: key).prefix(8).map { String(format: "%02x", $0) }
            .joined()
    }

    /// Encrypts the file at `source` into a new file at `destination`; `name` is bound into every chunk.
    public func encrypt(_ source: String, to destination: String, name: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source), options: .alwaysMapped)
        let output = try FileWriter(destination)
        defer { output.close() }
        try data.withUnsafeBytes { try encrypt($0, name: name) { try output.write($0) } }
    }

    /// Encrypts `bytes` in the file format above, handing each piece to `write` in order.
    public func encrypt(_ bytes: UnsafeRawBufferPointer, name: String, into write: ([UInt8]) throws -> Void) throws {
        try write(Self.magic)
        var offset = 0
        var index: UInt64 = 0
        repeat {
            let end = min(bytes.count, offset + Self.chunkSize)
            let final = end == bytes.count
            let sealed = try AES.GCM.seal(
                UnsafeRawBufferPointer(rebasing: bytes[offset..<end]),
                using: key,
                authenticating: aad(name, index, final)
            )
            .combined!
            var length = UInt32(sealed.count).bigEndian
            try write(withUnsafeBytes(of: &length) { Array($0) } + Array(sealed))
            offset = end
            index += 1
        } while offset < bytes.count
    }

    /// Decrypts a file made by `encrypt` into a new file. Throws, naming the problem, on a wrong key, a
    /// damaged or truncated file, or chunks that were moved.
    public func decrypt(_ source: String, to destination: String, name: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source), options: .alwaysMapped)
        guard data.count >= Self.magic.count, Array(data.prefix(Self.magic.count)) == Self.magic else {
            throw Failure(description: "\(name) is not an encrypted backup file")
        }
        let output = try FileWriter(destination)
        defer { output.close() }
        var offset = Self.magic.count
        var index: UInt64 = 0
        while true {
            guard offset + 4 <= data.count else { throw Failure(description: "\(name) is truncated (chunk \(index) missing)") }
            let length = data[data.startIndex + offset..<data.startIndex + offset + 4].reduce(0) { $0 << 8 | Int($1) }
            offset += 4
            guard length >= 28, offset + length <= data.count else { throw Failure(description: "\(name) is truncated in chunk \(index)") }
            let chunk = data[data.startIndex + offset..<data.startIndex + offset + length]
            offset += length
            let final = offset == data.count
            do {
                let box = try AES.GCM.SealedBox(combined: chunk)
                try output.write(Array(try AES.GCM.open(box, using: key, authenticating: aad(name, index, final))))
            } catch {
                throw Failure(
                    description: "\(name) does not decrypt at chunk \(index): "
                        + (final
                            ? "the file is damaged, truncated, or was made with another key"
                            : "the file is damaged or was made with another key")
                )
            }
            if final { break }
            index += 1
        }
    }

    private func aad(_ name: String, _ index: UInt64, _ final: Bool) -> [UInt8] {
        Array("\(name)|\(index)|\(final ? 1 : 0)".utf8)
    }
}

/// A file written with plain POSIX calls and fsynced when closed, so a kept backup is on disk.
final class FileWriter {
    let fd: Int32
    let path: String

    init(_ path: String) throws {
        self.path = path
        fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BackupCipher.Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var written = 0
        while written < bytes.count {
            let count = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw BackupCipher.Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
            written += count
        }
    }

    func close() {
        fsync(fd)
        Glibc.close(fd)
    }
}

/// Writes a backup file at a bounded rate, syncing every few megabytes, and hashes what it writes: a backup
/// that dirties a gigabyte at once makes every commit of the services on the same disk wait behind its
/// writeback, while one that trickles leaves them a short queue.
final class PacedWriter {
    let file: FileWriter
    let bytesPerSecond: Int
    private(set) var bytes: Int64 = 0
    private var hash = SHA256()
    private var unsynced = 0
    private let started = ContinuousClock.now
    static let syncEvery = 8 << 20

    /// `bytesPerSecond` 0 writes as fast as the disk takes it.
    init(_ path: String, bytesPerSecond: Int) throws {
        file = try FileWriter(path)
        self.bytesPerSecond = bytesPerSecond
    }

    func write(_ chunk: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < chunk.count {
            let end = min(chunk.count, offset + Self.syncEvery - unsynced)
            let piece = UnsafeRawBufferPointer(rebasing: chunk[offset..<end])
            try file.write(piece)
            hash.update(bufferPointer: piece)
            bytes += Int64(piece.count)
            unsynced += piece.count
            offset = end
            if unsynced >= Self.syncEvery {
                fdatasync(file.fd)
                unsynced = 0
            }
            if bytesPerSecond > 0 {
                let due = Double(bytes) / Double(bytesPerSecond)
                let elapsed = ContinuousClock.now - started
                let ahead = due - (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                if ahead > 0.001 { usleep(UInt32(min(ahead, 1) * 1_000_000)) }
            }
        }
    }

    func write(_ chunk: [UInt8]) throws { try chunk.withUnsafeBytes { try write($0) } }

    /// Syncs and closes the file; returns its size and SHA-256.
    func finish() -> (bytes: Int64, sha256: String) {
        file.close()
        return (bytes, hash.finalize().map { String(format: "%02x", $0) }.joined())
    }
}
