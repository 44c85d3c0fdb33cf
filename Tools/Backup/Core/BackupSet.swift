import Foundation
import Storage

/// A service's database as the backup sees it: its name and its `DATABASE_URL`.
public struct ServiceDatabase: Sendable {
    public var name: String
    public var url: DatabaseURL

    public init(name: String, url: String) throws {
        self.name = name
        self.url = try DatabaseURL(url)
    }

    var sqlitePath: String? {
        if case .sqlite(let path) = url { return path }
        return nil
    }

    /// The database name of a PostgreSQL URL (the last path segment).
    var postgresDatabase: String? {
        guard case .postgres(let conninfo) = url else { return nil }
        return conninfo.split(separator: "/").last.map { String($0.split(separator: "?")[0]) }
    }

    var conninfo: String? {
        if case .postgres(let conninfo) = url { return conninfo }
        return nil
    }
}

/// Backups of every service's database into one folder with a `manifest.json`, their verification, and
/// restores. SQLite files are copied online with SQLite's backup API and checked with `integrity_check`
/// before they are kept; the PostgreSQL cluster is backed up by pgBackRest from its WAL archive. With a
/// cipher every SQLite copy is encrypted (AES-256-GCM); pgBackRest encrypts its repository with its own
/// cipher, configured with the same key.
///
/// Blocking (file I/O, SQLite, child processes): call from a thread of the caller's, not the cooperative pool.
public struct BackupSet: Sendable {
    public var services: [ServiceDatabase]
    public var postgres: PgBackRest?
    public var cipher: BackupCipher?
    /// How fast SQLite copies are written to disk (0: as fast as it goes); see `PacedWriter`.
    public var maxBytesPerSecond: Int
    /// Where progress goes (one line per step).
    public var log: @Sendable (String) -> Void

    public init(
        services: [ServiceDatabase],
        postgres: PgBackRest?,
        cipher: BackupCipher?,
        maxBytesPerSecond: Int = 0,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.services = services
        self.postgres = postgres
        self.cipher = cipher
        self.maxBytesPerSecond = maxBytesPerSecond
        self.log = log
    }

    // MARK: Backup

    /// Backs up `only` these services (all when nil) into `folder`, adding to its manifest if there is one,
    /// so a set can be taken one service at a time. `type` is pgBackRest's (`full` or `incr`).
    @discardableResult
    public func create(in folder: String, only: Set<String>? = nil, type: String = "incr") throws -> BackupManifest {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let now = Timestamp.format(Date())
        var manifest =
            (try? BackupManifest.read(from: folder))
            ?? BackupManifest(createdAt: now, finishedAt: now, encrypted: cipher != nil, keyId: cipher?.keyId, services: [:])
        guard manifest.encrypted == (cipher != nil), manifest.keyId == cipher?.keyId else {
            throw BackupError("\(folder) holds a set made with another BACKUP_KEY setting: use a new folder")
        }
        var postgresBackup: (info: PgBackRest.Info, startedAt: String, finishedAt: String, files: [BackupManifest.File])?
        for service in Self.backupOrder(services) where only?.contains(service.name) ?? true {
            let startedAt = Timestamp.format(Date())
            if let path = service.sqlitePath {
                manifest.services[service.name] = try backUpSQLite(service.name, path, into: folder, startedAt: startedAt)
            } else {
                guard let postgres else { throw BackupError("\(service.name) is on PostgreSQL: pgBackRest settings are needed") }
                // One pgBackRest backup holds the whole cluster: every PostgreSQL service of this call shares it.
                if postgresBackup == nil {
                    log("\(service.name): pgBackRest \(type) backup of the cluster")
                    let info = try postgres.backup(type: type)
                    postgresBackup = (info, startedAt, Timestamp.format(Date()), try postgres.files(label: info.label))
                }
                let backup = postgresBackup!
                manifest.services[service.name] = BackupManifest.Service(
                    kind: "postgres",
                    schema: try postgresSchema(service),
                    startedAt: backup.startedAt,
                    finishedAt: backup.finishedAt,
                    stanza: postgres.stanza,
                    label: backup.info.label,
                    type: backup.info.type,
                    lsnStart: backup.info.lsnStart,
                    lsnStop: backup.info.lsnStop,
                    repository: postgres.repository,
                    database: service.postgresDatabase,
                    files: backup.files
                )
            }
        }
        manifest.finishedAt = Timestamp.format(Date())
        try manifest.write(to: folder)
        return manifest
    }

    /// The saga log first, the gateway last: a saga log no later than its participants is always recoverable
    /// (a participant that is ahead holds effects of running sagas, which resume and find them done, or of
    /// sagas the log never saw, which the reconciliation compensates), while a participant behind the log may
    /// have lost what a redo needs (a payment method, say).
    static func backupOrder(_ services: [ServiceDatabase]) -> [ServiceDatabase] {
        func rank(_ name: String) -> Int { name == "saga" ? 0 : name == "gateway" ? 2 : 1 }
        return services.enumerated().sorted { (rank($0.element.name), $0.offset) < (rank($1.element.name), $1.offset) }.map(\.element)
    }

    private func backUpSQLite(_ name: String, _ path: String, into folder: String, startedAt: String) throws -> BackupManifest.Service {
        log("\(name): online copy of \(path)")
        // The copy is taken in memory and checked there, so nothing is written until it is proved whole.
        let snapshot = try SQLiteBackup.Snapshot(of: path)
        if let problems = try snapshot.integrityProblems() {
            throw BackupError("\(name): the copy failed its integrity check, nothing kept: \(problems)")
        }
        let schema = try snapshot.lastMigration().map { BackupManifest.Schema(migration: $0.name, checksum: $0.checksum) }
        let fileName = cipher == nil ? "\(name).db" : "\(name).db.enc"
        let kept = folder + "/" + fileName
        let partial = kept + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        let writer = try PacedWriter(partial, bytesPerSecond: maxBytesPerSecond)
        let written: (bytes: Int64, sha256: String)
        do {
            try snapshot.withFileBytes { bytes in
                if let cipher {
                    try cipher.encrypt(bytes, name: fileName) { try writer.write($0) }
                } else {
                    try writer.write(bytes)
                }
            }
            written = writer.finish()
        } catch {
            _ = writer.finish()
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
        try? FileManager.default.removeItem(atPath: kept)
        try FileManager.default.moveItem(atPath: partial, toPath: kept)
        return BackupManifest.Service(
            kind: "sqlite",
            schema: schema,
            startedAt: startedAt,
            finishedAt: Timestamp.format(Date()),
            files: [BackupManifest.File(name: fileName, bytes: written.bytes, sha256: written.sha256)]
        )
    }

    private func postgresSchema(_ service: ServiceDatabase) throws -> BackupManifest.Schema? {
        guard let conninfo = service.conninfo, let bin = postgres?.binDirectory else { return nil }
        let text = try runProgram(
            bin + "/psql",
            [
                conninfo, "-At", "-F", "|", "-c",
                "SELECT version || '_' || name, checksum FROM schema_migrations ORDER BY version DESC LIMIT 1",
            ]
        )
        let fields = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").map(String.init)
        return fields.count == 2 ? BackupManifest.Schema(migration: fields[0], checksum: fields[1]) : nil
    }

    // MARK: Verify

    /// Checks every file of the set against the manifest (size and SHA-256), decrypts the encrypted ones
    /// (which proves the key and every chunk), and runs `integrity_check` on every SQLite copy. Returns the
    /// manifest and, per SQLite service, a checked plain copy in `scratch` (for a restore to move into place).
    public func verify(_ folder: String, scratch: String? = nil) throws -> (BackupManifest, [String: String]) {
        let manifest = try BackupManifest.read(from: folder)
        if manifest.encrypted {
            guard let cipher else { throw BackupError("this backup is encrypted: set BACKUP_KEY to the key it was made with") }
            guard cipher.keyId == manifest.keyId else {
                throw BackupError(
                    "BACKUP_KEY is not the key this backup was made with (key id \(cipher.keyId), backup \(manifest.keyId ?? "?"))"
                )
            }
        }
        var plain: [String: String] = [:]
        for (name, service) in manifest.services.sorted(by: { $0.key < $1.key }) {
            for file in service.files {
                let base = service.kind == "sqlite" ? folder : (service.repository ?? "")
                let path = base + "/" + file.name
                guard FileManager.default.fileExists(atPath: path) else { throw BackupError("\(name): \(file.name) is missing") }
                let (bytes, sha256) = try digest(of: path)
                guard bytes == file.bytes else {
                    throw BackupError("\(name): \(file.name) has \(bytes) bytes, the manifest says \(file.bytes): truncated or replaced")
                }
                guard sha256 == file.sha256 else {
                    throw BackupError("\(name): \(file.name) does not match its SHA-256: damaged or altered")
                }
                guard service.kind == "sqlite" else { continue }
                let checked = (scratch ?? folder) + "/\(name).db.verified-\(UUID().uuidString.prefix(8))"
                if manifest.encrypted {
                    try? FileManager.default.removeItem(atPath: checked)
                    do {
                        try cipher!.decrypt(path, to: checked, name: file.name)
                    } catch {
                        try? FileManager.default.removeItem(atPath: checked)
                        throw BackupError("\(name): \(error)")
                    }
                } else {
                    try FileManager.default.copyItem(atPath: path, toPath: checked)
                }
                let problems: String?
                do { problems = try SQLiteBackup.integrityProblems(checked) } catch { problems = "\(error)" }
                if let problems {
                    try? FileManager.default.removeItem(atPath: checked)
                    throw BackupError("\(name): \(file.name) fails its integrity check: \(problems)")
                }
                if scratch == nil { try? FileManager.default.removeItem(atPath: checked) } else { plain[name] = checked }
            }
        }
        return (manifest, plain)
    }

    // MARK: Restore

    /// What a restore did, per service, and the checkouts the gateway had acknowledged before it (from the
    /// data set aside), so that the reconciliation can report the ones the restore lost.
    public struct Restored: Codable, Sendable {
        public struct Service: Codable, Sendable {
            public var kind: String
            public var backupTakenAt: String
            public var seconds: Double
            public var setAside: String?
        }

        public struct Acknowledged: Codable, Sendable {
            public var checkoutId: String
            public var orderId: String
            public var requestedAt: String
        }

        public var backup: String
        public var at: String?
        public var restoredAt: String
        public var services: [String: Service]
        public var acknowledged: [Acknowledged]
    }

    /// Restores every service of the manifest onto a stopped system: first every file is verified (nothing
    /// is touched when one fails), then each SQLite file currently in place is moved aside into
    /// `<its folder>/pre-restore-<time>/` and the checked copy moved in, and the PostgreSQL cluster is
    /// restored by pgBackRest, to `at` through the WAL archive when given.
    public func restore(
        _ folder: String,
        at time: String?,
        serverOptions: String = "",
        postgresPort: Int = 5432
    ) throws -> Restored {
        let stamp = Timestamp.format(Date()).replacingOccurrences(of: ":", with: "")
        var targets: [String: ServiceDatabase] = [:]
        for service in services { targets[service.name] = service }
        let scratchFolder = folder + "/.restoring-\(stamp)"
        try FileManager.default.createDirectory(atPath: scratchFolder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratchFolder) }
        log("verifying \(folder)")
        let (manifest, checked) = try verify(folder, scratch: scratchFolder)
        for name in manifest.services.keys where targets[name] == nil {
            throw BackupError("the backup holds \(name), which this system does not have")
        }
        for (name, service) in manifest.services where service.kind == "sqlite" && targets[name]?.sqlitePath == nil {
            throw BackupError("\(name) was backed up from SQLite but runs on PostgreSQL here")
        }
        let postgresServices = manifest.services.filter { $0.value.kind == "postgres" }
        if !postgresServices.isEmpty && postgres == nil {
            throw BackupError("the backup holds PostgreSQL services: pgBackRest settings are needed")
        }

        var acknowledged: [Restored.Acknowledged] = []
        if let gateway = targets["gateway"]?.sqlitePath, FileManager.default.fileExists(atPath: gateway) {
            acknowledged = (try? Self.acknowledgedCheckouts(gateway)) ?? []
        }
        var restored: [String: Restored.Service] = [:]
        // PostgreSQL first: it is the step that can fail for reasons outside the set (the cluster, its
        // owner's rights), and the SQLite files are only moved once it succeeded.
        if let postgres, let latest = postgresServices.values.max(by: { ($0.label ?? "") < ($1.label ?? "") }) {
            let started = Date()
            log("PostgreSQL: pgBackRest restore of \(latest.label ?? "?")" + (time.map { " to \($0)" } ?? ""))
            try postgres.restore(label: latest.label ?? "", at: time, serverOptions: serverOptions, port: postgresPort)
            for (name, service) in postgresServices {
                restored[name] = Restored.Service(
                    kind: "postgres",
                    backupTakenAt: time ?? service.finishedAt,
                    seconds: Date().timeIntervalSince(started),
                    setAside: nil
                )
            }
        }
        for (name, service) in manifest.services.sorted(by: { $0.key < $1.key }) where service.kind == "sqlite" {
            let started = Date()
            let path = targets[name]!.sqlitePath!
            let folderOfFile = (path as NSString).deletingLastPathComponent
            let aside = folderOfFile + "/pre-restore-\(stamp)"
            var setAside: String?
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                try FileManager.default.createDirectory(atPath: aside, withIntermediateDirectories: true)
                try FileManager.default.moveItem(atPath: path + suffix, toPath: aside + "/" + (path as NSString).lastPathComponent + suffix)
                setAside = aside
            }
            try FileManager.default.moveItem(atPath: checked[name]!, toPath: path)
            log("\(name): restored from \(service.files.first?.name ?? "?") taken at \(service.finishedAt)")
            restored[name] = Restored.Service(
                kind: "sqlite",
                backupTakenAt: service.finishedAt,
                seconds: Date().timeIntervalSince(started),
                setAside: setAside
            )
        }
        return Restored(backup: folder, at: time, restoredAt: Timestamp.format(Date()), services: restored, acknowledged: acknowledged)
    }

    /// The checkouts a gateway database answered 201: what its customers were told had succeeded.
    static func acknowledgedCheckouts(_ path: String) throws -> [Restored.Acknowledged] {
        struct Answer: Decodable { let orderId: String }
        return try SQLiteBackup.rows(path, "SELECT checkout_id, body, created_at FROM checkout_requests WHERE status = 201").compactMap {
            row in
            guard row.count == 3, let answer = try? JSONDecoder().decode(Answer.self, from: Data(row[1].utf8)) else { return nil }
            return Restored.Acknowledged(checkoutId: row[0], orderId: answer.orderId, requestedAt: row[2])
        }
    }
}
