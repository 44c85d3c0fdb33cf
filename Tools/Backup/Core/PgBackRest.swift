import Foundation
import Storage

/// pgBackRest (https://pgbackrest.org/command.html) for the PostgreSQL cluster that holds the
/// PostgreSQL-backed services' databases: full and incremental backups from its WAL archive, and restores to
/// any time the archive covers. Run as the cluster's owner when the caller is root.
public struct PgBackRest: Sendable {
    /// The pgBackRest configuration file (repository, cluster path and port, cipher) and the stanza.
    public var config: String
    public var stanza: String
    /// The cluster's data folder and PostgreSQL's `bin` folder, for stopping and starting it around a restore.
    public var dataDirectory: String
    public var binDirectory: String

    public init(config: String, stanza: String, dataDirectory: String, binDirectory: String) {
        self.config = config
        self.stanza = stanza
        self.dataDirectory = dataDirectory
        self.binDirectory = binDirectory
    }

    var user: String? { owner(of: dataDirectory) }

    /// A backup's label, type and the WAL positions it spans, from `pgbackrest info`.
    public struct Info: Sendable {
        public var label: String
        public var type: String
        public var lsnStart: String
        public var lsnStop: String
    }

    @discardableResult
    func run(_ arguments: [String]) throws -> String {
        try runProgram("pgbackrest", ["--config=\(config)", "--stanza=\(stanza)"] + arguments, user: user)
    }

    /// The repository folder (`repo1-path` in the configuration).
    public var repository: String {
        let text = (try? String(contentsOfFile: config, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix("repo1-path=") }.map { String($0.dropFirst("repo1-path=".count)) } ?? ""
    }

    /// Takes a backup (`full`, or `incr` on the last one; pgBackRest makes the first one full) while the
    /// cluster serves, and returns its description.
    public func backup(type: String) throws -> Info {
        try run(["--type=\(type)", "--start-fast", "backup"])
        guard let latest = try backups().last else { throw BackupError("pgBackRest reports no backup after taking one") }
        return latest
    }

    /// Every backup in the repository, oldest first.
    public func backups() throws -> [Info] {
        let text = try run(["--output=json", "info"])
        // What this reads of `pgbackrest info --output=json`: each stanza's backups, label, type and LSNs.
        struct Stanza: Decodable {
            struct Backup: Decodable {
                struct LSN: Decodable {
                    let start: String?
                    let stop: String?
                }
                let label: String?
                let type: String?
                let lsn: LSN?
            }
            let backup: [Backup]?
        }
        guard let stanzas = try? JSONDecoder().decode([Stanza].self, from: Data(text.utf8)), let backups = stanzas.first?.backup else {
            throw BackupError("cannot read `pgbackrest info`: \(text.prefix(200))")
        }
        return backups.map { backup in
            Info(label: backup.label ?? "", type: backup.type ?? "", lsnStart: backup.lsn?.start ?? "", lsnStop: backup.lsn?.stop ?? "")
        }
    }

    /// Files of one backup in the repository, relative to it, with their sizes and digests.
    public func files(label: String) throws -> [BackupManifest.File] {
        let base = repository + "/backup/\(stanza)/\(label)"
        guard let walker = FileManager.default.enumerator(atPath: base) else { throw BackupError("\(base) is missing") }
        var files: [BackupManifest.File] = []
        while let relative = walker.nextObject() as? String {
            let path = base + "/" + relative
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            let (bytes, sha256) = try digest(of: path)
            files.append(BackupManifest.File(name: "backup/\(stanza)/\(label)/\(relative)", bytes: bytes, sha256: sha256))
        }
        return files.sorted { $0.name < $1.name }
    }

    /// Restores the cluster from backup `label`: to time `at` through the WAL archive when given (RFC 3339),
    /// else to the end of that backup. Stops the cluster first, replays to the target and promotes it, waits
    /// until it accepts writes, and stops it again, so the next start of the system finds it ready.
    /// `serverOptions` are the server's own (`-p PORT -k SOCKETDIR ...`); `port` is where it listens on 127.0.0.1.
    public func restore(label: String, at time: String?, serverOptions: String, port: Int) throws {
        try? pgctl(["-m", "fast", "-w", "stop"])
        var arguments = ["--delta", "--set=\(label)", "--target-action=promote"]
        if let time {
            // PostgreSQL's recovery_target_time takes `2026-11-30 10:15:00.5+00`, not RFC 3339's `T` and `Z`.
            guard let date = Timestamp.parse(time) else { throw BackupError("\(time) is not an RFC 3339 time") }
            let text = Timestamp.format(date).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "+00")
            arguments += ["--type=time", "--target=\(text)"]
        } else {
            arguments += ["--type=immediate"]
        }
        try run(arguments + ["restore"])
        let log = dataDirectory + "/restore.log"
        do {
            try pgctl(["-l", log, "-w", "-t", "300", "start", "-o", serverOptions])
        } catch {
            let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(8).joined(separator: "\n")
            throw BackupError("the restored cluster did not start:\n\(tail)")
        }
        defer { try? pgctl(["-m", "fast", "-w", "stop"]) }
        // Over the server's Unix socket (`-k DIR` in its options) where it has one: local connections of the
        // cluster's owner are trusted, TCP ones may need a password.
        let words = serverOptions.split(separator: " ").map(String.init)
        let host = words.firstIndex(of: "-k").flatMap { $0 + 1 < words.count ? words[$0 + 1] : nil } ?? "127.0.0.1"
        for _ in 0..<600 {
            let answer = try? runProgram(
                binDirectory + "/psql",
                ["-h", host, "-p", "\(port)", "-U", "postgres", "-d", "postgres", "-At", "-c", "SELECT pg_is_in_recovery()"],
                user: user
            )
            if answer?.trimmingCharacters(in: .whitespacesAndNewlines) == "f" { return }
            usleep(100_000)
        }
        throw BackupError("the restored cluster did not finish recovery in 60 s (see \(log))")
    }

    private func pgctl(_ arguments: [String]) throws {
        try runProgram(binDirectory + "/pg_ctl", ["-D", dataDirectory] + arguments, user: user)
    }
}
