import AuditorCore
import Foundation
import HTTP
import ServiceKit

/// `audit`: the consistency auditor as a command. Reads every service through its API with a service token
/// (its own key: `SERVICE_SIGNING_KEY`, and `SERVICE_KEYS`; `INVENTORY_URL`, `ORDER_URL`, `PAYMENT_URL`, `SHIPPING_URL`, `SAGA_URL`) and prints
/// the report. Exit status: 0 no violation, 1 violations, 2 a service could not be read, 64 bad usage.
///
///     audit               the report as text
///     audit --json        the report as JSON (what GET /v1/admin/consistency answers)
///     audit reconcile     re-drive finished sagas and compensate orphaned effects, then audit again
///                         (`--acknowledged FILE`: a restore's report, whose acknowledged checkouts it checks)
let usage = """
    usage: audit [--json]           check that the services agree (stock, money, sagas, orphans, feeds)
           audit verify [--database URL ...]
                                    check each service's audit trail: every entry chained to the one before;
                                    names the first broken entry (through the services' APIs, or databases)
           audit reconcile [--json] [--acknowledged RESTORE-REPORT]
                                    repair what a restore left disagreeing, then check again, and report the
                                    checkouts acknowledged before the restore that it lost

    environment: SERVICE_SIGNING_KEY and SERVICE_KEYS (the auditor's key pair and the services' public keys;
                 development keys under SAGAMART_ENV=development), INVENTORY_URL, ORDER_URL, PAYMENT_URL, SHIPPING_URL, SAGA_URL
                 (default http://127.0.0.1:8081 ... 8085), AUDIT_STUCK_AFTER (120s), AUDIT_LAG_LIMIT (60s)
    """
var arguments = Array(CommandLine.arguments.dropFirst())
let json = arguments.contains("--json")
arguments.removeAll { $0 == "--json" }
var acknowledgedFile: String?
if let index = arguments.firstIndex(of: "--acknowledged"), index + 1 < arguments.count {
    acknowledgedFile = arguments[index + 1]
    arguments.removeSubrange(index...index + 1)
}
let command = arguments
if arguments.contains("--help") || arguments.contains("-h") {
    print(usage)
    exit(0)
}
if command.first == "verify" {
    await AuditVerify.run(Array(command.dropFirst()), usage: usage)
}
guard command.isEmpty || command == ["reconcile"] else {
    FileHandle.standardError.write(Data((usage + "\n").utf8))
    exit(64)
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("audit: \(message)\n".utf8))
    exit(2)
}

let environment = Environment()
let auditor: Auditor
do {
    let authenticator = try ServiceAuthenticator(environment: environment, service: "auditor")
    var urls: [String: String] = [:]
    for (index, service) in ["inventory", "order", "payment", "shipping", "saga"].enumerated() {
        urls[service] = try environment.url("\(service.uppercased())_URL", default: "http://127.0.0.1:\(8081 + index)")
    }
    auditor = Auditor(
        client: HTTPClient(configuration: HTTPClientConfiguration(requestTimeout: .seconds(30))),
        authenticator: authenticator,
        urls: urls,
        limits: try AuditLimits(environment: environment)
    )
} catch {
    fail("\(error)")
}

func emit(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self))
}

do {
    if command == ["reconcile"] {
        struct RestoreReport: Decodable { var acknowledged: [Reconciler.Acknowledged] }
        var acknowledged: [Reconciler.Acknowledged] = []
        if let acknowledgedFile {
            guard let data = FileManager.default.contents(atPath: acknowledgedFile),
                let report = try? JSONDecoder().decode(RestoreReport.self, from: data)
            else { fail("\(acknowledgedFile) is not a restore report") }
            acknowledged = report.acknowledged
        }
        let outcome = try await Reconciler(auditor: auditor).run(acknowledged: acknowledged) { repair in
            if !json { print("repair \(repair.violation.rawValue) \(repair.action): \(repair.outcome)") }
        }
        if json {
            emit(outcome)
        } else {
            print("before: \(outcome.before.violations.count) violation(s); \(outcome.repairs.count) repair(s)")
            if acknowledgedFile != nil {
                print("acknowledged checkouts lost: \(outcome.lost.count) of \(acknowledged.count)")
                for checkout in outcome.lost {
                    print("  LOST checkout \(checkout.checkoutId) order \(checkout.orderId) requested at \(checkout.requestedAt)")
                }
            }
            print(outcome.after.text)
        }
        exit(outcome.after.ok ? 0 : 1)
    }
    let report = try await auditor.run()
    if json { emit(report) } else { print(report.text) }
    exit(report.ok ? 0 : 1)
} catch {
    fail("\(error)")
}
