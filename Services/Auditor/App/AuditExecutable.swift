import ArgumentParser
import AuditorCore
import FoundationEssentials
import Glibc
import HTTP
import Platform
import ServiceKit

/// `audit`: the consistency auditor as a command. Reads every service through its API with a service token
/// (its own key: `SERVICE_SIGNING_KEY`, and `SERVICE_KEYS`; `INVENTORY_URL`, `ORDER_URL`, `PAYMENT_URL`, `SHIPPING_URL`, `SAGA_URL`) and prints
/// the report. Exit status: 0 no violation, 1 violations, 2 a service could not be read, 64 bad usage.
///
///     audit               the report as text
///     audit --json        the report as JSON (what GET /v1/admin/consistency answers)
///     audit reconcile     re-drive finished sagas and compensate orphaned effects, then audit again
///                         (`--acknowledged FILE`: a restore's report, whose acknowledged checkouts it checks)
@main
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check that the services agree, verify their audit trails, and repair what a restore left.",
        discussion: """
            Reads every service through its API with a service token. Exit status: 0 the services agree (or every \
            chain is intact), 1 violations (or a broken chain), 2 a service could not be read, 64 bad usage.

            Environment:
            """ + "\n"
                + ServiceCommand.table([
                    (
                        "SERVICE_SIGNING_KEY, SERVICE_KEYS",
                        "the auditor's key pair and the services' public keys (development keys under SAGAMART_ENV=development)"
                    ),
                    (
                        "INVENTORY_URL, ORDER_URL, PAYMENT_URL, SHIPPING_URL, SAGA_URL",
                        "the services (default http://127.0.0.1:8081 ... 8085)"
                    ),
                    ("AUDIT_STUCK_AFTER", "a running saga older than this is a violation (default 120s)"),
                    ("AUDIT_LAG_LIMIT", "a feed consumer further behind is a violation (default 60s)"),
                ]),
        subcommands: [Check.self, Verify.self, Reconcile.self],
        defaultSubcommand: Check.self
    )
}

/// `audit [--json]` (the default).
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check stock, money, sagas, orphans and feeds across the services (the default)."
    )

    @Flag(help: "The report as JSON (what GET /v1/admin/consistency answers).")
    var json = false

    func run() async throws {
        let report: ConsistencyReport
        do {
            report = try await makeAuditor().run()
        } catch {
            fail("\(error)")
        }
        if json { emit(report) } else { print(report.text) }
        throw ExitCode(report.ok ? 0 : 1)
    }
}

/// `audit reconcile [--json] [--acknowledged FILE]`.
struct Reconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Re-drive finished sagas and compensate orphaned effects, then check again."
    )

    @Flag(help: "The outcome as JSON.")
    var json = false

    @Option(help: "A restore's report: the checkouts acknowledged before the restore are checked, the lost ones named.")
    var acknowledged: String?

    func run() async throws {
        struct RestoreReport: Decodable { var acknowledged: [Reconciler.Acknowledged] }
        var checkouts: [Reconciler.Acknowledged] = []
        if let acknowledged {
            guard let data = FileManager.default.contents(atPath: acknowledged),
                let report = try? JSONDecoder().decode(RestoreReport.self, from: data)
            else { fail("\(acknowledged) is not a restore report") }
            checkouts = report.acknowledged
        }
        let json = self.json
        let outcome: Reconciler.Outcome
        do {
            outcome = try await Reconciler(auditor: try makeAuditor()).run(acknowledged: checkouts) { repair in
                if !json { print("repair \(repair.violation.rawValue) \(repair.action): \(repair.outcome)") }
            }
        } catch {
            fail("\(error)")
        }
        if json {
            emit(outcome)
        } else {
            print("before: \(outcome.before.violations.count) violation(s); \(outcome.repairs.count) repair(s)")
            if acknowledged != nil {
                print("acknowledged checkouts lost: \(outcome.lost.count) of \(checkouts.count)")
                for checkout in outcome.lost {
                    print("  LOST checkout \(checkout.checkoutId) order \(checkout.orderId) requested at \(checkout.requestedAt)")
                }
            }
            print(outcome.after.text)
        }
        throw ExitCode(outcome.after.ok ? 0 : 1)
    }
}

/// `audit verify [--database URL ...]`.
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check each service's audit trail: every entry chained to the one before; names the first broken one.",
        discussion: "Through the services' APIs (GET /v1/audit-log, as the auditor), or straight from databases with --database."
    )

    @Option(name: .customLong("database"), help: "A database to read the trail from instead of the APIs (repeatable).")
    var databases: [String] = []

    func run() async throws {
        await AuditVerify.run(databases: databases)
    }
}

func fail(_ message: String) -> Never {
    StandardStream.error.write("audit: \(message)\n")
    exit(2)
}

func makeAuditor() throws -> Auditor {
    let environment = Environment()
    let authenticator = try ServiceAuthenticator(environment: environment, service: "auditor")
    var urls: [String: String] = [:]
    for (index, service) in ["inventory", "order", "payment", "shipping", "saga"].enumerated() {
        urls[service] = try environment.url("\(service.uppercased())_URL", default: "http://127.0.0.1:\(8081 + index)")
    }
    return Auditor(
        client: HTTPClient(configuration: HTTPClientConfiguration(requestTimeout: .seconds(30))),
        authenticator: authenticator,
        urls: urls,
        limits: try AuditLimits(environment: environment)
    )
}

func emit(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self))
}
