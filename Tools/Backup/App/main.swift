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
let usage = """
    usage: backup create [--out DIR] [--only NAME,...] [--type incr|full]
                         online backup of every service into DIR (default ./backups/<UTC time>) with manifest.json
           backup verify DIR
                         check every file against the manifest, the key, and SQLite's integrity check
           backup restore DIR [--at RFC3339-TIME]
                         restore a stopped system: SQLite files from the set, PostgreSQL to TIME through
                         the WAL archive (else to the end of its backup); refuses while a service is up
    """

func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("backup: \(message)\n".utf8))
    exit(status)
}

var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.isEmpty || arguments.contains("--help") || arguments.contains("-h") {
    print(usage)
    exit(arguments.isEmpty ? 64 : 0)
}
let command = arguments.removeFirst()
var options: [String: String] = [:]
var positional: [String] = []
while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    if argument.hasPrefix("--") {
        guard !arguments.isEmpty else { fail("\(argument) needs a value\n\(usage)", status: 64) }
        options[String(argument.dropFirst(2))] = arguments.removeFirst()
    } else {
        positional.append(argument)
    }
}

let environment = ProcessInfo.processInfo.environment
func setting(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }

let set: BackupSet
let postgres: PgBackRest?
do {
    guard let listed = setting("BACKUP_SERVICES") else {
        fail("BACKUP_SERVICES is not set: start the system once with make run or make run-pg (they write DATA_DIR/ops.env)")
    }
    let services = try listed.split(separator: ",").map { entry -> ServiceDatabase in
        let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw BackupError("BACKUP_SERVICES entry \(entry) is not name=DATABASE_URL") }
        return try ServiceDatabase(name: parts[0], url: parts[1])
    }
    postgres = setting("PGBACKREST_CONFIG").map {
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
    set = BackupSet(
        services: services,
        postgres: postgres,
        cipher: setting("BACKUP_KEY").map(BackupCipher.init(secret:)),
        maxBytesPerSecond: rate << 20
    ) { print($0) }
} catch {
    fail("\(error)", status: 78)
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

do {
    switch command {
    case "create":
        // A backup is background work: the services' requests come first on a busy machine (nice 19; the
        // SQLite copies and pgBackRest, a child, run at that priority).
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        let stamp = Timestamp.format(Date()).replacingOccurrences(of: ":", with: "").prefix(17)
        let folder = options["out"] ?? "\(setting("BACKUP_DIR") ?? "./backups")/\(stamp)Z"
        let started = Date()
        let manifest = try set.create(
            in: folder,
            only: options["only"].map { Set($0.split(separator: ",").map(String.init)) },
            type: options["type"] ?? "incr"
        )
        for (name, service) in manifest.services.sorted(by: { $0.key < $1.key }) {
            let bytes = service.files.reduce(0) { $0 + $1.bytes }
            print(
                "  \(name): \(service.kind) \(service.label ?? service.files.first?.name ?? "") \(bytes) bytes, schema \(service.schema?.migration ?? "?")"
            )
        }
        print(
            "backup set \(folder) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s\(manifest.encrypted ? " (encrypted)" : "")"
        )
    case "verify":
        guard let folder = positional.first else { fail("verify needs the backup folder\n\(usage)", status: 64) }
        let (manifest, _) = try set.verify(folder)
        print("\(folder): \(manifest.services.count) service(s), every file matches its manifest and checks")
    case "restore":
        guard let folder = positional.first else { fail("restore needs the backup folder\n\(usage)", status: 64) }
        if let at = options["at"], Timestamp.parse(at) == nil {
            fail("--at must be an RFC 3339 time such as 2026-11-30T10:15:00Z", status: 64)
        }
        let ports = (setting("SERVICE_PORTS") ?? "").split(separator: ",").compactMap { Int($0) }
        let up = ports.filter(listening)
        guard up.isEmpty else {
            fail("the system is running (ports \(up.map(String.init).joined(separator: ", ")) answer): stop it first, nothing was restored")
        }
        let restored = try set.restore(
            folder,
            at: options["at"],
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
            print("  \(name): \(service.kind) as of \(service.backupTakenAt), \(String(format: "%.2f", service.seconds)) s")
        }
        print("restored \(folder); \(restored.acknowledged.count) checkout(s) had been acknowledged before; the next start reconciles")
    default:
        fail("unknown command \(command)\n\(usage)", status: 64)
    }
} catch {
    fail("\(error)")
}
