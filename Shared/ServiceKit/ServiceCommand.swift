import ArgumentParser
import FoundationEssentials
import Glibc
import Logging
import Platform
import Storage
import Synchronization

/// A service's process entry (each service's `@main`): its command runs as a detached task on the global
/// executor while the main thread sleeps. The compiler's `async` main would hand the main thread to Dispatch
/// (`dispatch_main`), which ends it with `pthread_exit`; that unwinds the thread's stack through the unwind
/// tables (`.eh_frame_hdr`, `.eh_frame`), which nothing else reads, and left 0.2-0.9 MB of them resident in
/// every idle service. Nothing in the services runs on the main actor or the main queue, which are then
/// never drained. Exit statuses are the command's: `ServiceMain.run` and swift-argument-parser call `exit`.
///
/// It sets the process's CPU scheduling (`CPU_SCHEDULING`, `CPUScheduling`) first, on the main thread, so
/// that every thread started afterwards has it; a value it does not know is left to `ServiceRuntime` to
/// refuse.
public enum ProcessEntry {
    public static func start<Command: AsyncParsableCommand>(_ command: Command.Type) -> Never {
        if let scheduling = CPUScheduling(setting: getenv(CPUScheduling.variable).map { String(cString: $0) }) {
            let refused = scheduling.apply()
            applied.withLock { $0 = (scheduling, refused) }
        }
        Task.detached {
            await command.main()
            exit(0)
        }
        while true { pause() }
    }

    /// The scheduling `start` set, and the errno if the kernel refused it (0 when it did not); nil when the
    /// process did not start through `start` (a test) or `CPU_SCHEDULING` held something else.
    public static var scheduling: (CPUScheduling, refused: Int32)? { applied.withLock { $0 } }
    private static let applied = Mutex<(CPUScheduling, refused: Int32)?>(nil)
}

extension CPUScheduling: ConfigValue {
    public static func parse(_ text: String) -> CPUScheduling? { CPUScheduling(setting: text) }
    public static var expectation: String { "batch or normal" }
}

/// What a service's command line knows of it: `serve` (the default), `migrate`, and the commands the
/// service adds (`rotate-keys`, `rebuild-projections`, ...), all with swift-argument-parser's `--help`.
public protocol ServiceDefinition {
    /// The executable's name: `gateway`.
    static var name: String { get }
    /// One line: what the service is.
    static var abstract: String { get }
    /// The environment variables `serve` reads beyond the common ones, one per line (`NAME  meaning`).
    static var environmentHelp: String { get }
    static var defaultPort: Int { get }
    static var defaultDatabaseURL: String { get }
    /// The service's numbered migrations (its `Migrations` folder, carried in the executable).
    static var migrations: MigrationFiles { get }
    /// Wires the service and serves until SIGTERM (the process's life when started without a command).
    static func serve() async throws
    /// The databases `migrate` looks at, each with a label: `DATABASE_URL` by default (the order service
    /// lists its shards).
    static func databases(_ environment: Environment) throws -> [(label: String, url: String)]
}

extension ServiceDefinition {
    public static func databases(_ environment: Environment) throws -> [(label: String, url: String)] {
        [("DATABASE_URL", try environment.get("DATABASE_URL", default: defaultDatabaseURL))]
    }
}

/// A service whose database holds sealed (encrypted) values: it has `rotate-keys`.
public protocol SealedServiceDefinition: ServiceDefinition {
    static func sealedColumns(_ keyring: Keyring) -> [SealedColumn]
}

public enum ServiceCommand {
    /// The root command's configuration: `serve` by default, `migrate`, and `extra`.
    public static func configuration<S: ServiceDefinition>(
        _ service: S.Type,
        extra: [any ParsableCommand.Type] = []
    ) -> CommandConfiguration {
        CommandConfiguration(
            commandName: S.name,
            abstract: S.abstract,
            discussion: "Without a command it serves (`\(S.name) serve --help` lists the options and environment variables).",
            subcommands: [Serve<S>.self, Migrate<S>.self] + extra,
            defaultSubcommand: Serve<S>.self
        )
    }

    /// The variables every service reads, for `serve --help`.
    static let commonEnvironment = table([
        ("SAGAMART_ENV", "development allows the development keys and secrets (default production)"),
        ("SERVICE_SIGNING_KEY, SERVICE_KEYS", "this service's Ed25519 key and every caller's public key (base64)"),
        ("DATABASE_POOL_SIZE", "connections to the database (default 4)"),
        ("DATABASE_READ_URL", "a standby for reads that may be stale"),
        ("LOG_FORMAT", "json or text"),
        ("FAULT_INJECTION", "on allows POST /v1/admin/faults"),
        ("CPU_SCHEDULING", "batch (default) or normal: the threads' scheduling policy (sched(7))"),
    ])

    /// Variables and their meanings as a two-column table that fits 80 columns (`--help` wraps longer lines
    /// without the indentation).
    public static func table(_ rows: [(String, String)]) -> String {
        let column = 24
        var lines: [String] = []
        for (name, meaning) in rows {
            var words = meaning.split(separator: " ").map(String.init)
            var line = name.count < column - 1 ? name + String(repeating: " ", count: column - name.count) : name
            if name.count >= column - 1 {
                lines.append(line)
                line = String(repeating: " ", count: column)
            }
            var used = false
            while !words.isEmpty {
                if used && line.count + 1 + words[0].count > 79 {
                    lines.append(line)
                    line = String(repeating: " ", count: column)
                    used = false
                }
                line += (used ? " " : "") + words.removeFirst()
                used = true
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

/// The options every service's `serve` takes; each is also an environment variable (the option wins).
public struct ServeOptions: ParsableArguments {
    @Option(help: "The port to listen on (PORT).")
    public var port: Int?

    @Option(help: "The address to listen on (HOST; default 0.0.0.0).")
    public var host: String?

    @Option(name: .customLong("database-url"), help: "sqlite://PATH, sqlite::memory: or postgres://... (DATABASE_URL).")
    public var databaseURL: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (LOG_LEVEL; default info).")
    public var logLevel: String?

    public init() {}

    public func validate() throws {
        if let port, !(1...65_535).contains(port) { throw ValidationError("--port must be 1 to 65535.") }
    }

    /// Sets the environment variables of the options given, for the service's configuration to read.
    public func export() {
        for (name, value) in [("PORT", port.map(String.init)), ("HOST", host), ("DATABASE_URL", databaseURL), ("LOG_LEVEL", logLevel)] {
            if let value { setenv(name, value, 1) }
        }
    }
}

/// `<service> serve`: the service itself (the default command).
public struct Serve<S: ServiceDefinition>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "serve",
            abstract: "Serve the API (the default): \(S.abstract)",
            discussion: """
                Listens on port \(S.defaultPort) with the database \(S.defaultDatabaseURL) unless told otherwise, applies \
                pending migrations, and drains on SIGTERM.

                Environment:
                \(ServiceCommand.commonEnvironment)
                \(S.environmentHelp)
                """
        )
    }

    @OptionGroup public var options: ServeOptions

    public init() {}

    public func run() async throws {
        options.export()
        await ServiceMain.run(S.name) { try await S.serve() }
    }
}

/// `<service> migrate [--apply]`: the service's migrations, each applied (with its time) or pending.
public struct Migrate<S: ServiceDefinition>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "migrate",
            abstract: "Show the database's migrations, applied or pending; --apply applies the pending ones.",
            discussion: """
                The service applies pending migrations itself at start, under a lock, so replicas starting together \
                apply each once; this command lets an operator see and apply them before a deploy. A migration whose \
                SQL changed since it was applied stops it with a message.
                """
        )
    }

    @Option(name: .customLong("database-url"), help: "The database (DATABASE_URL; default \(S.defaultDatabaseURL)).")
    var databaseURL: String?

    @Flag(help: "Apply the pending migrations, then show them all.")
    var apply = false

    public init() {}

    public func run() async throws {
        if let databaseURL { setenv("DATABASE_URL", databaseURL, 1) }
        let apply = self.apply
        await ServiceMain.run(S.name) { try await Self.show(apply: apply) }
    }

    static func show(apply: Bool) async throws {
        let logger = Logger(label: S.name)
        var pending = 0
        for (label, text) in try S.databases(Environment()) {
            let url: DatabaseURL
            do {
                url = try DatabaseURL(text)
            } catch {
                throw ValidationError("\(label) must be sqlite:PATH, sqlite::memory: or postgres://...")
            }
            let database = try await Storage.open(url: url, poolSize: 1, logger: logger)
            let migrator = Migrator(try S.migrations.migrations(for: database.dialect))
            if apply {
                let done = try await migrator.migrate(database)
                print("\(label): applied \(done.isEmpty ? "nothing" : done.map(String.init).joined(separator: ", "))")
            }
            let statuses = try await migrator.status(database)
            await database.close()
            print("\(label) (\(DatabaseURL.redacted(text))):")
            for status in statuses {
                let version = String(repeating: "0", count: max(0, 3 - String(status.version).count)) + String(status.version)
                print("  \(version) \(status.name)  " + (status.appliedAt.map { "applied " + Timestamp.format($0) } ?? "PENDING"))
            }
            pending += statuses.filter { $0.appliedAt == nil }.count
        }
        print(pending == 0 ? "up to date" : "\(pending) pending: run with --apply (or start the service)")
    }
}

/// `<service> rotate-keys [--batch N]`: re-seals the stored values under `ENCRYPTION_ACTIVE_KEY`.
public struct RotateKeys<S: SealedServiceDefinition>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "rotate-keys",
            abstract: "Re-seal the stored values under the active encryption key, while the service runs.",
            discussion: """
                Reads ENCRYPTION_KEYS (kid:base64,...), ENCRYPTION_ACTIVE_KEY and INDEX_KEY (or their *_FILE forms) and \
                DATABASE_URL; OPERATOR names who rotated on the service's audit trail. Exit status 1 when values \
                written meanwhile are still under other keys: run it again.
                """
        )
    }

    @Option(help: "Rows re-sealed per transaction.")
    var batch = 500

    @Option(name: .customLong("database-url"), help: "The database (DATABASE_URL; default \(S.defaultDatabaseURL)).")
    var databaseURL: String?

    public init() {}

    public func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be a positive number of rows.") }
    }

    public func run() async throws {
        if let databaseURL { setenv("DATABASE_URL", databaseURL, 1) }
        let batch = self.batch
        await ServiceMain.run(S.name) {
            try await KeyRotationCommand.run(
                S.name,
                defaultURL: S.defaultDatabaseURL,
                migrations: S.migrations,
                batch: batch,
                columns: S.sealedColumns
            )
        }
    }
}
