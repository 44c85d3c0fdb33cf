import Crypto
import Foundation

/// `manifest.json` of a backup set: what each service's backup holds and how to check it before a restore.
public struct BackupManifest: Codable, Sendable, Equatable {
    public struct File: Codable, Sendable, Equatable {
        /// Path relative to the backup set's folder (SQLite) or to the pgBackRest repository (PostgreSQL).
        public var name: String
        public var bytes: Int64
        public var sha256: String
    }

    public struct Schema: Codable, Sendable, Equatable {
        /// The last migration applied (`003_restocks`) and its checksum.
        public var migration: String
        public var checksum: String
    }

    /// One service's backup.
    public struct Service: Codable, Sendable, Equatable {
        /// `sqlite` or `postgres`.
        public var kind: String
        public var schema: Schema?
        public var startedAt: String
        public var finishedAt: String
        /// PostgreSQL: the pgBackRest stanza and backup label, its type (`full`, `incr`), the WAL positions it
        /// spans and the repository it lives in.
        public var stanza: String?
        public var label: String?
        public var type: String?
        public var lsnStart: String?
        public var lsnStop: String?
        public var repository: String?
        /// The database the service uses inside the backed-up cluster.
        public var database: String?
        public var files: [File]
    }

    public var format = 1
    public var createdAt: String
    public var finishedAt: String
    public var encrypted: Bool
    /// Id of the key the set was encrypted with (see `BackupCipher.keyId`).
    public var keyId: String?
    public var services: [String: Service]

    public static let fileName = "manifest.json"

    public func write(to folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: folder + "/" + Self.fileName), options: .atomic)
    }

    public static func read(from folder: String) throws -> BackupManifest {
        let path = folder + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BackupError("\(path) is missing: not a backup set")
        }
        do {
            return try JSONDecoder().decode(BackupManifest.self, from: data)
        } catch {
            throw BackupError("\(path) cannot be read: \(error)")
        }
    }
}

/// Why a backup or a restore stopped. The message is for the operator and names what to do.
public struct BackupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Size and SHA-256 of a file, read in chunks.
func digest(of path: String) throws -> (bytes: Int64, sha256: String) {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw BackupError("cannot read \(path)") }
    defer { try? handle.close() }
    var hash = SHA256()
    var bytes: Int64 = 0
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
        hash.update(data: chunk)
        bytes += Int64(chunk.count)
    }
    return (bytes, hash.finalize().map { String(format: "%02x", $0) }.joined())
}
