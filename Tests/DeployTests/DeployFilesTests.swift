import Foundation
import TestSupport
import Testing

/// No Docker engine runs here, so docker-compose.yml and the Kubernetes manifests are proved by
/// `scripts/validate_deploy.py`: schemas from ../shared/schemas, and agreement with what the code reads.
@Suite("docker-compose.yml and Kubernetes manifests")
struct DeployFilesTests {
    static let repository = FileManager.default.currentDirectoryPath

    @Test func theCommittedFilesPassEveryCheck() async throws {
        let output = try await offPool { try run("/usr/bin/env", ["python3", "\(Self.repository)/scripts/validate_deploy.py"]) }
        #expect(output.contains("deploy check: 0 problems"))
    }

    /// A copy of the repository's deploy files with one edit, checked by the same script; it must fail.
    func check(editing file: String, _ edit: @escaping @Sendable (String) -> String) async throws -> String {
        let root = temporaryDirectory()
        // Copying the sources is seconds of blocking file I/O: off the cooperative pool (on it, every other
        // suite's in-process servers and clients stalled until their timeouts).
        try await offPool {
            let manager = FileManager.default
            try manager.createDirectory(atPath: "\(root)/Deploy", withIntermediateDirectories: true)
            for item in [
                "Services", "Shared", "Tools", "Package.swift", "docker-compose.yml", "Deploy/k8s", "Deploy/postgres", "Deploy/Dockerfile",
                "Deploy/edge", "Deploy/startup.order",
            ] {
                try manager.copyItem(atPath: "\(Self.repository)/\(item)", toPath: "\(root)/\(item)")
            }
            let path = "\(root)/\(file)"
            try edit(try String(contentsOfFile: path, encoding: .utf8)).write(toFile: path, atomically: true, encoding: .utf8)
        }
        do {
            _ = try await offPool { try run("/usr/bin/env", ["python3", "\(Self.repository)/scripts/validate_deploy.py", "--root", root]) }
            return ""
        } catch let error as PostgresCluster.ClusterError {
            return error.message
        }
    }

    @Test func aMissingVariableIsCaught() async throws {
        let output = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "      INVENTORY_URL: http://inventory:8081\n      # Feeds", with: "      # Feeds")
        }
        #expect(output.contains("order reads INVENTORY_URL but it is not set"))
    }

    @Test func aWrongPortOrHealthCheckIsCaught() async throws {
        let output = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "http://127.0.0.1:8083/health/ready", with: "http://127.0.0.1:8083/health")
        }
        #expect(output.contains("payment healthcheck does not hit /health/ready on 8083"))
        let url = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "PAYMENT_URL: http://payment:8083", with: "PAYMENT_URL: http://payment:9999")
        }
        #expect(url.contains("does not point at payment:8083"))
    }

    @Test func aSchemaViolationIsCaught() async throws {
        let compose = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "  restart: unless-stopped", with: "  restartt: unless-stopped")
        }
        #expect(compose.contains("compose schema"))
        let kubernetes = try await check(editing: "Deploy/k8s/saga.yaml") {
            $0.replacingOccurrences(of: "  replicas: 2", with: "  replicaz: 2")
        }
        #expect(kubernetes.contains("k8s saga.yaml Deployment"))
        #expect(kubernetes.contains("the saga Deployment must run 2 replicas"))
    }

    @Test func aDockerfileThatRunsAsRootOrMissesAServiceIsCaught() async throws {
        let root = try await check(editing: "Deploy/Dockerfile") { $0.replacingOccurrences(of: "USER 10001", with: "USER root") }
        #expect(root.contains("must run as a non-root user"))
        let missing = try await check(editing: "Deploy/Dockerfile") { $0.replacingOccurrences(of: " --product shipping", with: "") }
        #expect(missing.contains("shipping is not built"))
    }

    @Test func anImageWithoutTheAllocatorSettingOrOneTheLauncherDoesNotShareIsCaught() async throws {
        let dropped = try await check(editing: "Deploy/Dockerfile") {
            $0.replacingOccurrences(of: " GLIBC_TUNABLES=glibc.malloc.tcache_count=1000", with: "")
        }
        #expect(dropped.contains("the runtime stage does not set GLIBC_TUNABLES"))
        let other = try await check(editing: "Deploy/Dockerfile") {
            $0.replacingOccurrences(of: "GLIBC_TUNABLES=glibc.malloc.tcache_count=1000", with: "GLIBC_TUNABLES=glibc.malloc.tcache_count=7")
        }
        #expect(other.contains("scripts/run.sh: does not default GLIBC_TUNABLES to the image's glibc.malloc.tcache_count=7"))
    }

    @Test func anImageWithTheRuntimeLinkedDynamicallyOrBuiltOtherwiseThanTheBenchmarksIsCaught() async throws {
        let dynamic = try await check(editing: "Deploy/Dockerfile") { $0.replacingOccurrences(of: " --static-swift-stdlib", with: "") }
        #expect(dynamic.contains("the executables are not built with --static-swift-stdlib"))
        let other = try await check(editing: "Deploy/Dockerfile") {
            $0.replacingOccurrences(of: "--static-swift-stdlib", with: "--static-swift-stdlib -Xswiftc -Osize")
        }
        let sections = "-Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections -Xcxx -ffunction-sections"
        let flags = "-c release --static-swift-stdlib -Xswiftc -Osize \(sections)"
        #expect(other.contains("scripts/build-release.sh: does not build with the image's flags (\(flags))"))
    }

    @Test func anImageBuiltWithoutItsCodeLayoutOrWithItsDebugSectionsIsCaught() async throws {
        let uncopied = try await check(editing: "Deploy/Dockerfile") {
            $0.replacingOccurrences(of: "COPY Deploy/startup.order Deploy/startup.order\n", with: "")
        }
        #expect(uncopied.contains("Deploy/startup.order (the code layout Package.swift links with) is not copied into the build"))
        let whole = try await check(editing: "Deploy/Dockerfile") {
            $0.replacingOccurrences(of: " -Xcc -ffunction-sections -Xcxx -ffunction-sections", with: "")
        }
        #expect(whole.contains("the executables are not compiled with a section per function"))
        let unstripped = try await check(editing: "Deploy/Dockerfile") {
            $0.replacingOccurrences(of: " \\\n    && strip --strip-debug /out/*", with: "")
        }
        #expect(unstripped.contains("the executables are copied with their debug sections"))
        let empty = try await check(editing: "Deploy/startup.order") { _ in "" }
        #expect(empty.contains("Deploy/startup.order is missing or nearly empty"))
    }

    @Test func aClusterWithoutItsWALArchiveOrAnUnencryptedRepositoryIsCaught() async throws {
        let archive = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "archive_mode=on", with: "archive_mode=off")
        }
        #expect(archive.contains("postgres does not run with archive_mode=on"))
        let volume = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "      - pgbackrest:/var/lib/pgbackrest\n", with: "")
        }
        #expect(volume.contains("postgres does not mount /var/lib/pgbackrest"))
        let image = try await check(editing: "Deploy/postgres/Dockerfile") { $0.replacingOccurrences(of: "pgbackrest", with: "nothing") }
        #expect(image.contains("not built from an image that installs pgbackrest"))
        let cipher = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "${BACKUP_KEY:?set BACKUP_KEY}", with: "dev-backup-key")
        }
        #expect(cipher.contains("not encrypted with BACKUP_KEY"))
        let tool = try await check(editing: "Deploy/Dockerfile") { $0.replacingOccurrences(of: " --product backup", with: "") }
        #expect(tool.contains("the backup command is not built"))
    }

    @Test func aStandbyThatIsNotOneOrThatNoServiceReadsIsCaught() async throws {
        let health = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "SELECT pg_is_in_recovery()", with: "SELECT 1")
        }
        #expect(health.contains("postgres-replica's health check does not know it is a standby"))
        let unread = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "@postgres-replica:5432/saga", with: "@postgres:5432/saga")
        }
        #expect(unread.contains("saga does not read from the standby's copy of each of its databases"))
        let noRole = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(
                of: "      - ./Deploy/postgres/replication.sh:/docker-entrypoint-initdb.d/15-replication.sh:ro\n",
                with: ""
            )
        }
        #expect(noRole.contains("postgres does not create a replication role at init"))
        let noBackup = try await check(editing: "Deploy/postgres/standby.sh") { $0.replacingOccurrences(of: " -R ", with: " ") }
        #expect(noBackup.contains("postgres-replica does not start as a standby made by pg_basebackup -R"))
        #expect(noBackup.contains("standby.sh of the postgres-standby ConfigMap is not Deploy/postgres/standby.sh"))
        let k8s = try await check(editing: "Deploy/k8s/order.yaml") {
            $0.replacingOccurrences(of: "@postgres-replica:5432/order_1", with: "@postgres-replica:5432/order")
        }
        #expect(k8s.contains("k8s: order does not read from the standby's copy of each of its databases"))
    }

    @Test("the TLS edge is the only way in: nginx with the template, 443 and 80 only, the gateway's one trusted proxy")
    func theTLSEdgeIsChecked() async throws {
        let published = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(
                of: "    volumes:\n      - gateway-data:",
                with: "    ports:\n      - \"8080:8080\"\n    volumes:\n      - gateway-data:"
            )
        }
        #expect(published.contains("compose: gateway publishes a port (only the TLS edge may)"))
        let trust = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "TRUSTED_PROXIES: 172.28.0.10", with: "TRUSTED_PROXIES: 0.0.0.0")
        }
        #expect(trust.contains("the gateway's TRUSTED_PROXIES is not the edge's fixed address"))
        let plain = try await check(editing: "Deploy/edge/edge.conf.template") {
            $0.replacingOccurrences(of: "return 301 https://", with: "proxy_pass http://")
        }
        #expect(plain.contains("edge template: missing return 301 https://"))
        let ingress = try await check(editing: "Deploy/k8s/ingress.yaml") {
            $0.replacingOccurrences(of: "    secretName: sagamart-tls\n", with: "")
        }
        #expect(ingress.contains("k8s: no Ingress with a TLS secret in front of the gateway"))
    }

    @Test func aDefaultForASecretIsCaught() async throws {
        let output = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "ADMIN_API_KEY: ${ADMIN_API_KEY:?set ADMIN_API_KEY}", with: "ADMIN_API_KEY: admin-dev-key")
        }
        #expect(output.contains("gateway ADMIN_API_KEY must come from the environment with no default"))
    }

    @Test("the data keys of a service that seals data come from the environment (compose) and a mounted Secret (Kubernetes)")
    func encryptionKeysAreWired() async throws {
        let compose = try await check(editing: "docker-compose.yml") {
            $0.replacingOccurrences(of: "INDEX_KEY: ${SHIPPING_INDEX_KEY:-}", with: "INDEX_KEY: c2hvcnQ=")
        }
        #expect(compose.contains("compose: shipping INDEX_KEY must come from SHIPPING_INDEX_KEY in the environment"))
        let k8s = try await check(editing: "Deploy/k8s/payment.yaml") {
            $0.replacingOccurrences(of: "secretName: sagamart-payment-keys", with: "secretName: sagamart-secrets")
        }
        #expect(k8s.contains("k8s: payment does not read ENCRYPTION_KEYS from a file of the sagamart-payment-keys Secret"))
    }
}

/// `make run-pg` reads docker-compose.yml and starts the same topology here; a checkout through it proves it.
@Suite("make run-pg", .enabled(if: PostgresCluster.isAvailable, "PostgreSQL server binaries not installed"))
struct RunComposeLocallyTests {
    @Test func theComposeTopologyRunsLocallyAndTakesACheckout() async throws {
        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        // The compose ports 8080-8085 shifted onto six free ones.
        let offset = try freePorts(count: 6) - 8080
        let pgPort = try freePort()
        let replicaPort = try freePort()
        let httpsPort = try freePort()
        let httpPort = try freePort()
        let output = try await offPool {
            try run(
                "/usr/bin/env",
                [
                    "python3", "-u", "\(DeployFilesTests.repository)/scripts/run_pg.py", "--data", data, "--port-offset", "\(offset)",
                    "--pg-port", "\(pgPort)", "--replica-port", "\(replicaPort)", "--bin", productsDirectory, "--check",
                    "--tls", "--https-port", "\(httpsPort - offset)", "--http-port", "\(httpPort - offset)",
                ]
            )
        }
        #expect(output.contains("check passed"))
        // The checkout went through the TLS edge, over HTTPS, trusting the development CA only.
        #expect(output.contains("through https://localhost:\(httpsPort)"), "\(output)")
        #expect(output.contains("the standby streams"))
        #expect(output.contains("saga"))
    }
}

/// `make run` after `make restore`: the restore leaves its report in the data folder, and the next start
/// reconciles the services by itself and names the acknowledged checkouts the restore lost.
@Suite("make run after a restore")
struct RunAfterRestoreTests {
    @Test func theNextStartReconcilesAndReportsTheLostCheckouts() async throws {
        let data = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let report = #"{"acknowledged":[{"checkoutId":"ck-lost-1","orderId":"no-such-order","requestedAt":"2026-11-30T10:00:00Z"}]}"#
        try report.write(toFile: data + "/RECONCILE_PENDING", atomically: true, encoding: .utf8)
        let basePort = try freePorts(count: 6)
        var environment = ProcessInfo.processInfo.environment.merging([
            "DATA_DIR": data, "BASE_PORT": "\(basePort)", "BIN": productsDirectory, "LOG_LEVEL": "warning",
        ]) { _, new in new }
        // make run's own defaults are under test: the development mode and the loopback binding.
        environment["HOST"] = nil
        environment["SAGAMART_ENV"] = nil
        let runner = try ChildProcess("/bin/bash", ["\(DeployFilesTests.repository)/scripts/run.sh"], environment: environment)
        defer { runner.signal(SIGKILL) }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline && !runner.output.contains("SagaMart is running") {
            try await Task.sleep(for: .milliseconds(100))
        }
        let output = runner.output
        // The development secrets are usable from this host only: every service listens on 127.0.0.1.
        let listening = try listeningAddresses(ports: basePort..<(basePort + 6))
        runner.signal(SIGTERM)
        _ = await runner.wait(timeout: .seconds(20))
        #expect(listening.count == 6, "\(listening)")
        #expect(listening.allSatisfy { $0.hasPrefix("0100007F:") }, "\(listening)")
        // Whatever the script's own stop left running (its services are in DATA_DIR/pids).
        for line in ((try? String(contentsOfFile: data + "/pids", encoding: .utf8)) ?? "").split(separator: "\n") {
            if let pid = line.split(separator: " ").last.flatMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
        #expect(output.contains("reconciling after the restore"), "\(output)")
        #expect(output.contains("acknowledged checkouts lost: 1 of 1"), "\(output)")
        #expect(output.contains("LOST checkout ck-lost-1"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: data + "/RECONCILE_PENDING"))
        let kept = try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasPrefix("restore-") }
        #expect(kept.count == 1, "the restore's report is kept under its time")
        let ops = try String(contentsOfFile: data + "/ops.env", encoding: .utf8)
        #expect(ops.contains("BACKUP_SERVICES=gateway=sqlite://\(data)/gateway.db"))
    }
}

/// The local addresses (`/proc/net/tcp` form, `0100007F:1F90`) of listening TCP sockets on `ports`, IPv4
/// and IPv6 alike.
func listeningAddresses(ports: Range<Int>) throws -> [String] {
    var found: [String] = []
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        // Read to the end: procfs files report no size, and a table of many sockets is long.
        guard let handle = FileHandle(forReadingAtPath: table) else { continue }
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        try? handle.close()
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            // sl local_address rem_address st ...; state 0A is LISTEN.
            guard fields.count > 3, fields[3] == "0A", let colon = fields[1].lastIndex(of: ":"),
                let port = Int(fields[1][fields[1].index(after: colon)...], radix: 16), ports.contains(port)
            else { continue }
            found.append(String(fields[1]))
        }
    }
    return found
}
