import BackupCore
import Foundation
import Storage
import Synchronization

/// A throwaway PostgreSQL cluster for tests: `initdb` into a temporary folder (as the `postgres` user
/// when running as root, since the server refuses root), started on a free port, stopped and removed
/// when the test process exits. One cluster per test process; each test takes a database of its own.
public final class PostgresCluster: Sendable {
    public let directory: String
    public let port: Int
    let binaries: String
    private let counter = Atomic<Int>(0)

    /// The folder with `initdb`, `pg_ctl` and `postgres`, or nil when PostgreSQL is not installed.
    public static let binDirectory: String? = {
        var candidates = ["/usr/lib/postgresql/15/bin"]
        if let listed = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            candidates += listed.sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin" }
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") }
    }()

    /// Whether PostgreSQL tests can run here. When false they are skipped, and say so.
    public static var isAvailable: Bool { binDirectory != nil }

    private static let instance = Mutex<PostgresCluster?>(nil)
    private static let startError = Mutex<String?>(nil)

    /// The process-wide cluster, started on first use.
    public static func shared() throws -> PostgresCluster {
        try instance.withLock { existing in
            if let existing { return existing }
            if let error = startError.withLock({ $0 }) { throw ClusterError(message: error) }
            do {
                let cluster = try PostgresCluster()
                existing = cluster
                atexit { PostgresCluster.stopShared() }
                return cluster
            } catch {
                startError.withLock { $0 = "\(error)" }
                throw error
            }
        }
    }

    private static func stopShared() {
        guard let cluster = instance.withLock({ $0 }) else { return }
        cluster.stop(mode: "immediate")
        try? FileManager.default.removeItem(atPath: cluster.directory)
    }

    public struct ClusterError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Stops the server and removes its folder (for clusters a test made for itself), on a thread of its
    /// own: tests call it from `defer`, on the cooperative pool, and `pg_ctl stop` plus removing a data
    /// folder took seconds there on a loaded machine (seen in gdb), stalling every other suite.
    public func destroy() {
        let directory = self.directory
        // The test process waits for it before it exits (see `Cleanup`).
        Cleanup.inBackground { [self] in
            stop(mode: "immediate")
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// A cluster of its own, for a test that stops and starts the server. Call `destroy()` after.
    /// With `archiving`, its WAL is archived into a pgBackRest repository of its own (`pgBackRestConfig`,
    /// stanza `sagamart`), encrypted with `backupKey` when given, as `make run-pg` sets it up.
    public init(archiving: Bool = false, backupKey: String? = nil) throws {
        guard let binaries = PostgresCluster.binDirectory else {
            throw ClusterError(message: "PostgreSQL server binaries not found (install postgresql)")
        }
        self.binaries = binaries
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("sagamart-pg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        directory = base
        port = try freePort()
        if getuid() == 0 {
            _ = try run("/bin/chown", ["-R", "postgres:postgres", base])
        }
        try asServerUser("\(binaries)/initdb", ["-D", "\(base)/data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        if archiving {
            let cipher = backupKey.map { "repo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=\($0)\n" } ?? ""
            try """
            [global]
            repo1-path=\(base)/repository
            \(cipher)log-path=\(base)
            lock-path=\(base)
            log-level-console=warn
            compress-type=lz4

            [sagamart]
            pg1-path=\(base)/data
            pg1-port=\(port)
            pg1-socket-path=\(base)
            pg1-user=postgres
            """.write(toFile: pgBackRestConfig, atomically: true, encoding: .utf8)
            let archive = "pgbackrest --config=\(pgBackRestConfig) --stanza=sagamart archive-push %p"
            let settings = "\nwal_level = replica\narchive_mode = on\narchive_command = '\(archive)'\n"
            let configuration = try String(contentsOfFile: "\(base)/data/postgresql.conf", encoding: .utf8)
            try (configuration + settings).write(toFile: "\(base)/data/postgresql.conf", atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: "\(base)/repository", withIntermediateDirectories: true)
            if getuid() == 0 { _ = try run("/bin/chown", ["-R", "postgres:postgres", base]) }
        }
        try start()
        if archiving {
            try asServerUser("/usr/bin/pgbackrest", ["--config=\(pgBackRestConfig)", "--stanza=sagamart", "stanza-create"])
        }
    }

    /// A hot standby streaming from this cluster (`pg_basebackup -R`), started on a port of its own. Call
    /// `destroy()` after.
    public func makeStandby() throws -> PostgresCluster {
        try PostgresCluster(standbyOf: self)
    }

    private init(standbyOf primary: PostgresCluster) throws {
        binaries = primary.binaries
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("sagamart-pg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        directory = base
        port = try freePort()
        if getuid() == 0 { _ = try run("/bin/chown", ["-R", "postgres:postgres", base]) }
        try asServerUser(
            "\(binaries)/pg_basebackup",
            [
                "-D", "\(base)/data", "-R", "-X", "stream", "-c", "fast", "-h", "127.0.0.1", "-p", "\(primary.port)", "-U", "postgres",
                "--no-sync",
            ]
        )
        try start()
    }

    /// Runs SQL as the superuser (`SELECT pg_wal_replay_pause()` on a standby, say).
    public func sql(_ statement: String) throws {
        try asServerUser("\(binaries)/psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", "postgres", "-c", statement])
    }

    /// The pgBackRest configuration of a cluster made with `archiving`.
    public var pgBackRestConfig: String { directory + "/pgbackrest.conf" }

    /// The cluster's data folder, and the server options `start()` uses.
    public var dataDirectory: String { directory + "/data" }
    public var serverOptions: String {
        "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    }

    /// Ships the WAL written so far to the archive of a cluster made with `archiving`, and waits until it is
    /// there (`pgbackrest check` switches segments and waits), so a restore can reach any time until now.
    public func archiveCurrentWAL() throws {
        try asServerUser("/usr/bin/pgbackrest", ["--config=\(pgBackRestConfig)", "--stanza=sagamart", "check"])
    }

    /// Starts the server and waits until it accepts connections.
    public func start() throws {
        try asServerUser(
            "\(binaries)/pg_ctl",
            ["-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60", "start", "-o", serverOptions]
        )
    }

    /// Stops the server (`fast` waits for nothing but disconnects clients cleanly, `immediate` does not).
    public func stop(mode: String = "fast") {
        _ = try? asServerUser("\(binaries)/pg_ctl", ["-D", "\(directory)/data", "-m", mode, "-w", "stop"])
    }

    /// A URL for the server's maintenance database.
    public func url(database: String = "postgres", user: String = "postgres") -> String {
        "postgres://\(user)@127.0.0.1:\(port)/\(database)"
    }

    /// Creates an empty database and returns its URL. With `ownRole`, as `Deploy/postgres/init.sh` does for
    /// compose: a login role of the same name owns the database, and no other role may connect to it.
    public func createDatabase(prefix: String = "test", ownRole: Bool = false) async throws -> String {
        let name = "\(prefix)_\(getpid())_\(counter.add(1, ordering: .relaxed).newValue)"
        let admin = try PostgresDatabase(conninfo: url(), poolSize: 1)
        do {
            if ownRole {
                _ = try await admin.read { connection in
                    try connection.executeScript("CREATE ROLE \(name) LOGIN PASSWORD '\(name)-password'")
                    try connection.executeScript("CREATE DATABASE \(name) OWNER \(name)")
                    try connection.executeScript("REVOKE ALL ON DATABASE \(name) FROM PUBLIC")
                    try connection.executeScript("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE \(name) TO \(name)")
                }
            } else {
                _ = try await admin.read { try $0.executeScript("CREATE DATABASE \(name)") }
            }
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        return ownRole ? "postgres://\(name):\(name)-password@127.0.0.1:\(port)/\(name)" : url(database: name)
    }

    @discardableResult
    private func asServerUser(_ tool: String, _ arguments: [String]) throws -> String {
        if getuid() == 0 {
            return try run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments)
        }
        return try run(tool, arguments)
    }
}

/// Runs a program to completion and returns its output; a non-zero exit is a `ClusterError` with the output
/// (the `backup` command's `runProgram`: posix_spawn and waitpid, output through a file).
@discardableResult
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> String {
    do {
        return try runProgram(executable, arguments, environment: environment)
    } catch {
        throw PostgresCluster.ClusterError(message: "\(error)")
    }
}

/// The next port `freePorts` tries: each is handed out once per test process, from 10000 to 32000, below
/// the ephemeral range (32768 and up) where the kernel picks the local ports of outgoing connections and of
/// `bind(0)`. Port 0 was used before, and two systems started side by side could be handed the same port
/// (or one a client socket held a moment later): a service then failed to bind and another system's service
/// answered in its place.
private let nextPort = Mutex(10_000 + Int(getpid() % 1000) * 22)

/// `count` consecutive TCP ports nobody listens on now, never handed out before in this process; returns the first.
public func freePorts(count: Int) throws -> Int {
    for _ in 0..<4000 {
        let first = nextPort.withLock { next -> Int in
            if next + count > 32_000 { next = 10_000 }
            defer { next += count }
            return next
        }
        if (first..<(first + count)).allSatisfy(canBind) { return first }
    }
    throw PostgresCluster.ClusterError(message: "no free ports between 10000 and 32000")
}

/// A TCP port nobody listens on now, never handed out before in this process.
public func freePort() throws -> Int { try freePorts(count: 1) }

/// Whether a listener could bind `port` on every address now.
private func canBind(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = INADDR_ANY
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
