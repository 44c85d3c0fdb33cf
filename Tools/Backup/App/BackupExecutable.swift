import ArgumentParser
import BackupCore
import Foundation
import Storage

/// `backup`: backups, their verification, and restores of every service's database.
///
/// The system's layout comes from the environment (`make run` and `make run-pg` write it to
/// `DATA_DIR/ops.env`, which the make targets load):
/// - `BACKUP_SERVICES`: `name=DATABASE_URL,...` for every service;
/// - for PostgreSQL: `PGBACKREST_CONFIG`, `PGBACKREST_STANZA` (sagamart), `PG_DATA`, `PG_BIN`, `PG_PORT`,
///   `PG_SERVER_OPTIONS`;
/// - `SERVICE_PORTS`: the services' ports, which must all be closed for a restore;
/// - `BACKUP_KEY`: encrypts the set (AES-256-GCM for SQLite files; pgBackRest's cipher is set up with it);
/// - `BACKUP_MAX_MBPS` (25): how fast SQLite copies are written, so the services' commits keep the disk.
@main
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Backups of every service's database, their verification, and restores.",
        discussion: """
            Environment (make run and make run-pg write it to DATA_DIR/ops.env, which the make targets load):
            BACKUP_SERVICES    name=DATABASE_URL,... for every service
            PGBACKREST_CONFIG, PGBACKREST_STANZA, PG_DATA, PG_BIN, PG_PORT,
            PG_SERVER_OPTIONS  the PostgreSQL cluster and its pgBackRest repository
            SERVICE_PORTS      the services' ports, all closed for a restore
            BACKUP_KEY         encrypts the set (AES-256-GCM; pgBackRest's cipher)
            BACKUP_MAX_MBPS    how fast SQLite copies are written (25; 0: no limit)
            BACKUP_DIR         where create puts sets without --out (./backups)
            """,
        subcommands: [Create.self, VerifySet.self, Restore.self]
    )
}

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Back up every service online into a folder with manifest.json."
    )

    @Option(help: "The folder (default BACKUP_DIR/<UTC time>).")
    var out: String?

    @Option(help: "Only these services, comma-separated.")
    var only: String?

    @Option(help: "incr or full (PostgreSQL; SQLite copies are always whole).")
    var type = "incr"

    func validate() throws {
        guard ["incr", "full"].contains(type) else { throw ValidationError("--type must be incr or full.") }
    }

    func run() throws {
        let set = makeSet()
        // A backup is background work: the services' requests come first on a busy machine (nice 19; the
        // SQLite copies and pgBackRest, a child, run at that priority).
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        let stamp = Timestamp.format(Date()).replacingOccurrences(of: ":", with: "").prefix(17)
        let folder = out ?? "\(setting("BACKUP_DIR") ?? "./backups")/\(stamp)Z"
        let started = ContinuousClock.now
        do {
            let manifest = try set.create(in: folder, only: only.map { Set($0.split(separator: ",").map(String.init)) }, type: type)
            for (name, service) in manifest.services.sorted(by: { $0.key < $1.key }) {
                let bytes = service.files.reduce(0) { $0 + $1.bytes }
                print(
                    "  \(name): \(service.kind) \(service.label ?? service.files.first?.name ?? "") \(bytes) bytes, schema \(service.schema?.migration ?? "?")"
                )
            }
            print("backup set \(folder) in \(ContinuousClock.now - started)\(manifest.encrypted ? " (encrypted)" : "")")
        } catch {
            fail("\(error)")
        }
    }
}

struct VerifySet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every file of a set against its manifest, the key, and SQLite's integrity check."
    )

    @Argument(help: "The backup folder.")
    var folder: String

    func run() throws {
        let set = makeSet()
        do {
            let (manifest, _) = try set.verify(folder)
            print("\(folder): \(manifest.services.count) service(s), every file matches its manifest and checks")
        } catch {
            fail("\(error)")
        }
    }
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a stopped system from a set; refuses while a service is up.",
        discussion: "SQLite files from the set; PostgreSQL to --at through the WAL archive (else to the end of its backup)."
    )

    @Argument(help: "The backup folder.")
    var folder: String

    @Option(help: "An RFC 3339 time such as 2026-11-30T10:15:00Z (PostgreSQL point in time).")
    var at: String?

    func validate() throws {
        if let at, Timestamp.parse(at) == nil {
            throw ValidationError("--at must be an RFC 3339 time such as 2026-11-30T10:15:00Z")
        }
    }

    func run() throws {
        let set = makeSet()
        let ports = (setting("SERVICE_PORTS") ?? "").split(separator: ",").compactMap { Int($0) }
        let up = ports.filter(listening)
        guard up.isEmpty else {
            fail("the system is running (ports \(up.map(String.init).joined(separator: ", ")) answer): stop it first, nothing was restored")
        }
        do {
            let restored = try set.restore(
                folder,
                at: at,
                serverOptions: setting("PG_SERVER_OPTIONS") ?? "",
                postgresPort: Int(setting("PG_PORT") ?? "5432") ?? 5432
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let report = try encoder.encode(restored)
            // The next start of the system reconciles the services and reports acknowledged checkouts lost.
            if let pending = setting("RECONCILE_MARKER") {
                try report.write(to: URL(fileURLWithPath: pending), options: .atomic)
            }
            for (name, service) in restored.services.sorted(by: { $0.key < $1.key }) {
                print("  \(name): \(service.kind) as of \(service.backupTakenAt), \((service.seconds * 100).rounded() / 100) s")
            }
            print("restored \(folder); \(restored.acknowledged.count) checkout(s) had been acknowledged before; the next start reconciles")
        } catch {
            fail("\(error)")
        }
    }
}

func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("backup: \(message)\n".utf8))
    exit(status)
}

func setting(_ name: String) -> String? { ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 } }

/// The backup set of the system the environment describes (exit 78 when it does not describe one).
func makeSet() -> BackupSet {
    do {
        guard let listed = setting("BACKUP_SERVICES") else {
            fail("BACKUP_SERVICES is not set: start the system once with make run or make run-pg (they write DATA_DIR/ops.env)", status: 78)
        }
        let services = try listed.split(separator: ",").map { entry -> ServiceDatabase in
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw BackupError("BACKUP_SERVICES entry \(entry) is not name=DATABASE_URL") }
            return try ServiceDatabase(name: parts[0], url: parts[1])
        }
        let postgres = setting("PGBACKREST_CONFIG").map {
            PgBackRest(
                config: $0,
                stanza: setting("PGBACKREST_STANZA") ?? "sagamart",
                dataDirectory: setting("PG_DATA") ?? "",
                binDirectory: setting("PG_BIN") ?? "/usr/lib/postgresql/15/bin"
            )
        }
        guard let rate = Int(setting("BACKUP_MAX_MBPS") ?? "25"), rate >= 0 else {
            throw BackupError("BACKUP_MAX_MBPS must be a whole number of megabytes per second (0: no limit)")
        }
        return BackupSet(
            services: services,
            postgres: postgres,
            cipher: setting("BACKUP_KEY").map(BackupCipher.init(secret:)),
            maxBytesPerSecond: rate << 20
        ) { print($0) }
    } catch {
        fail("\(error)", status: 78)
    }
}

/// Whether something accepts connections on a port of this machine (a service still running).
func listening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
