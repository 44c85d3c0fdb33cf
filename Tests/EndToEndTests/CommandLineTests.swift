import Foundation
import HTTP
import TestSupport
import Testing

/// Every executable's command line follows swift-argument-parser's conventions: `--help` explains each
/// command and option with its environment variable, `serve` is the default, `migrate` shows and applies
/// migrations, and a bad command or option is refused with status 64 before anything starts.
@Suite("The executables' command lines")
struct CommandLineTests {
    static let services = ["gateway", "inventory", "order", "payment", "shipping", "saga"]

    func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        in directory: String? = nil
    ) async throws -> (
        status: Int32?, output: String
    ) {
        var arguments = arguments
        var program = productsDirectory + "/" + executable
        if let directory {
            // The services resolve relative SQLite paths against the working directory.
            arguments = ["-c", "cd \"$0\" && exec \"$@\"", directory, program] + arguments
            program = "/bin/sh"
        }
        let process = try ChildProcess(program, arguments, environment: ["PATH": "/usr/bin:/bin"].merging(environment) { $1 })
        return (await process.wait(timeout: .seconds(60)), process.output)
    }

    @Test(arguments: services)
    func eachServiceExplainsItsCommandsOptionsAndEnvironment(_ service: String) async throws {
        let root = try await run(service, ["--help"])
        #expect(root.status == 0, "\(root.output)")
        for command in ["serve (default)", "migrate"] { #expect(root.output.contains(command), "\(service) --help lists \(command)") }
        let serve = try await run(service, ["serve", "--help"])
        #expect(serve.status == 0)
        for option in ["--port", "(PORT)", "--host", "(HOST", "--database-url", "(DATABASE_URL)", "--log-level", "(LOG_LEVEL"] {
            #expect(serve.output.contains(option), "\(service) serve --help: \(option)")
        }
        for variable in ["SAGAMART_ENV", "SERVICE_SIGNING_KEY", "DATABASE_POOL_SIZE"] {
            #expect(serve.output.contains(variable), "\(service) serve --help names \(variable)")
        }
        let own = [
            "gateway": "CHECKOUT_MAX_IN_FLIGHT", "inventory": "RESERVATION_TTL", "order": "ORDER_SHARDS", "payment": "ENCRYPTION_KEYS",
            "shipping": "ENCRYPTION_KEYS", "saga": "SAGA_STEP_DEADLINE",
        ]
        #expect(serve.output.contains(own[service]!), "\(service) serve --help names its own \(own[service]!)")
        let migrate = try await run(service, ["migrate", "--help"])
        #expect(migrate.status == 0 && migrate.output.contains("--apply") && migrate.output.contains("DATABASE_URL"))
        // Refused before anything starts: an unknown command, an unknown option, a port out of range.
        for bad in [["frobnicate"], ["serve", "--frobnicate"], ["serve", "--port", "70000"]] {
            let refused = try await run(service, bad)
            #expect(refused.status == 64, "\(service) \(bad): \(refused.output)")
        }
    }

    @Test func theSealedServicesRotateKeysAndTheOrderServiceHasItsMaintenanceCommands() async throws {
        for service in ["gateway", "payment", "shipping", "saga"] {
            let help = try await run(service, ["rotate-keys", "--help"])
            #expect(help.status == 0 && help.output.contains("--batch") && help.output.contains("ENCRYPTION_ACTIVE_KEY"), "\(help.output)")
        }
        let inventory = try await run("inventory", ["rotate-keys"])
        #expect(inventory.status == 64, "inventory seals nothing: \(inventory.output)")
        let order = try await run("order", ["--help"])
        #expect(order.output.contains("rebuild-projections") && order.output.contains("move-bucket"))
        let bucket = try await run("order", ["move-bucket", "256", "1"])
        #expect(bucket.status == 64 && bucket.output.contains("bucket must be 0 to 255"), "\(bucket.output)")
    }

    @Test func migrateShowsThePendingMigrationsAppliesThemAndThenShowsThemApplied() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shown = try await run("inventory", ["migrate", "--database-url", "sqlite://inventory.db"], in: directory)
        #expect(shown.status == 0, "\(shown.output)")
        #expect(shown.output.contains("001 init  PENDING") && shown.output.contains("pending: run with --apply"), "\(shown.output)")
        let applied = try await run(
            "inventory",
            ["migrate", "--apply"],
            environment: ["DATABASE_URL": "sqlite://inventory.db"],
            in: directory
        )
        #expect(applied.status == 0 && applied.output.contains("applied 1, 2,"), "\(applied.output)")
        let again = try await run("inventory", ["migrate", "--database-url", "sqlite://inventory.db"], in: directory)
        #expect(!again.output.contains("PENDING") && again.output.contains("up to date"), "\(again.output)")
        #expect(again.output.contains("001 init  applied 20"))
        // The order service shows each shard.
        let shards = try await run("order", ["migrate"], environment: ["ORDER_SHARDS": "sqlite://a.db,sqlite://b.db"], in: directory)
        #expect(
            shards.output.contains("ORDER_SHARDS[0] (sqlite://a.db)") && shards.output.contains("ORDER_SHARDS[1] (sqlite://b.db)"),
            "\(shards.output)"
        )
    }

    /// The services link FoundationEssentials, not the full Foundation with its internationalisation data
    /// (about 7 MB resident per process), nor libpq (opened by the first PostgreSQL database: 5 MB with the
    /// libraries behind it), and carry their migrations: an executable copied alone into an empty folder
    /// migrates its database.
    @Test(arguments: services)
    func eachServiceLinksNoFullFoundationAndCarriesItsMigrations(_ service: String) async throws {
        let readelf = try ChildProcess("/usr/bin/readelf", ["-d", productsDirectory + "/" + service], environment: [:])
        #expect(await readelf.wait(timeout: .seconds(30)) == 0)
        let needed = readelf.output.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        #expect(needed.contains { $0.contains("[libFoundationEssentials.so]") }, "\(needed)")
        for library in ["[libFoundation.so]", "[libFoundationInternationalization.so]", "[lib_FoundationICU.so]", "[libpq.so"] {
            #expect(!needed.contains { $0.contains(library) }, "\(service) links \(library)")
        }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A hard link, not a copy: a copy's descriptor open for writing, inherited by a child another test forks
        // at that moment, makes exec fail with ETXTBSY. /proc/self/exe names the link, so the service looks
        // for nothing beside its real file.
        let program = directory + "/" + service
        do {
            try FileManager.default.linkItem(atPath: productsDirectory + "/" + service, toPath: program)
        } catch {
            try FileManager.default.copyItem(atPath: productsDirectory + "/" + service, toPath: program)
        }
        var output = ""
        for _ in 0..<20 {
            let process = try ChildProcess(
                "/bin/sh",
                ["-c", "cd \"$0\" && exec \"$@\"", directory, program, "migrate", "--apply", "--database-url", "sqlite://alone.db"],
                environment: ["PATH": "/usr/bin:/bin"]
            )
            let status = await process.wait(timeout: .seconds(60))
            output = process.output
            if output.contains("Text file busy") {
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            #expect(status == 0, "\(output)")
            break
        }
        #expect(output.contains("001 ") && !output.contains("PENDING"), "\(output)")
    }

    /// Where libpq is not installed (hidden here by an empty file mounted over it, in a mount namespace of the
    /// command's own), a service migrates and serves SQLite, and a PostgreSQL URL is refused with the reason.
    @Test func aServiceOnSQLiteNeedsNoLibpqAndPostgresSaysWhatIsMissing() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = #"""
            set -e
            library=$(ldconfig -p | awk '/libpq[.]so[.]5 /{print $NF; exit}')
            test -n "$library" || { echo "no libpq.so.5 to hide"; exit 3; }
            mount --bind /dev/null "$library"
            cd "$0"
            "$1" migrate --apply --database-url sqlite://alone.db
            if "$1" migrate --database-url postgres://sagamart@127.0.0.1:1/none; then echo "postgres: migrated"; exit 4; fi
            """#
        let process = try ChildProcess(
            "/usr/bin/unshare",
            ["--mount", "/bin/sh", "-c", script, directory, productsDirectory + "/inventory"],
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        )
        #expect(await process.wait(timeout: .seconds(60)) == 0, "\(process.output)")
        #expect(process.output.contains("001 ") && !process.output.contains("PENDING"), "\(process.output)")
        #expect(process.output.contains("cannot load libpq.so.5, PostgreSQL's client library"), "\(process.output)")
    }

    @Test func serveIsTheDefaultAndItsOptionsWinOverTheEnvironment() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try freePorts(count: 1)
        var arguments = ["--port", "\(port)", "--database-url", "sqlite://inventory.db", "--log-level", "warning"]
        arguments = ["-c", "cd \"$0\" && exec \"$@\"", directory, productsDirectory + "/inventory"] + arguments
        // PORT says another port: the option wins. No command: serve.
        let process = try ChildProcess(
            "/bin/sh",
            arguments,
            environment: ["PATH": "/usr/bin:/bin", "SAGAMART_ENV": "development", "PORT": "1", "HOST": "127.0.0.1"]
        )
        defer { process.signal(SIGKILL) }
        let client = HTTPClient.patient()
        var live = false
        for _ in 0..<400 where !live {
            live = (try? await client.get("http://127.0.0.1:\(port)/health/live").status.code) == 200
            if !live { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(live, "inventory served on --port: \(process.output)")
        #expect(FileManager.default.fileExists(atPath: directory + "/inventory.db"), "on --database-url")
        process.signal(SIGTERM)
        #expect(await process.wait() == 0)
    }

    @Test func theOperatorsCommandsExplainThemselves() async throws {
        let audit = try await run("audit", ["--help"])
        #expect(audit.status == 0)
        for text in ["check (default)", "verify", "reconcile", "AUDIT_STUCK_AFTER", "SERVICE_SIGNING_KEY"] {
            #expect(audit.output.contains(text), "audit: \(text)")
        }
        let reconcile = try await run("audit", ["reconcile", "--help"])
        #expect(reconcile.output.contains("--acknowledged") && reconcile.output.contains("--json"))
        let backup = try await run("backup", ["--help"])
        #expect(backup.status == 0)
        for text in ["create", "verify", "restore", "BACKUP_SERVICES", "BACKUP_KEY"] {
            #expect(backup.output.contains(text), "backup: \(text)")
        }
        let restore = try await run("backup", ["restore", "x", "--at", "yesterday"])
        #expect(restore.status == 64 && restore.output.contains("RFC 3339"), "\(restore.output)")
        let create = try await run("backup", ["create", "--type", "half"])
        #expect(create.status == 64, "\(create.output)")
    }

    @Test func theBenchmarkToolsExplainThemselves() async throws {
        for (tool, options) in [
            ("events-bench", ["--rate", "--duration"]), ("audit-bench", ["--entries", "--migration"]), ("json-bench", ["--count"]),
            ("echo-server", ["--port", "(PORT"]),
            ("load", ["--rate", "--concurrency"]),
        ] {
            let help = try await run(tool, ["--help"])
            #expect(help.status == 0, "\(tool): \(help.output)")
            for option in options { #expect(help.output.contains(option), "\(tool) --help: \(option)") }
            let refused = try await run(tool, ["--frobnicate"])
            #expect(refused.status == 64, "\(tool) --frobnicate: \(refused.output)")
        }
    }
}
