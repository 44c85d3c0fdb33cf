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
        guard let input = InputStream(fileAtPath: source) else { throw Failure(description: "cannot read \(source)") }
        let output = try FileWriter(destination)
        defer { output.close() }
        input.open()
        defer { input.close() }
        try output.write(Self.magic)
        var buffer = [UInt8](repeating: 0, count: Self.chunkSize)
        var pending = try read(input, into: &buffer)
        var index: UInt64 = 0
        while true {
            let next = pending.count == Self.chunkSize ? try read(input, into: &buffer) : []
            let final = next.isEmpty
            let sealed = try AES.GCM.seal(pending, using: key, authenticating: aad(name, index, final)).combined!
            var length = UInt32(sealed.count).bigEndian
            try output.write(withUnsafeBytes(of: &length) { Array($0) })
            try output.write(Array(sealed))
            if final { break }
            pending = next
            index += 1
        }
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

    private func read(_ input: InputStream, into buffer: inout [UInt8]) throws -> [UInt8] {
        var filled = 0
        while filled < buffer.count {
            let count = buffer.withUnsafeMutableBufferPointer { input.read($0.baseAddress! + filled, maxLength: $0.count - filled) }
            if count < 0 { throw Failure(description: "read failed: \(input.streamError.map { "\($0)" } ?? "?")") }
            if count == 0 { break }
            filled += count
        }
        return Array(buffer.prefix(filled))
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
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
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
