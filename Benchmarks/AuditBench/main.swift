import ArgumentParser
import Foundation
import Storage

/// `make bench-audit`: how fast the audit trail grows and how long `audit verify` takes over ENTRIES
/// entries (default 100,000), on a SQLite file with every commit durable, as the services keep it.
struct AuditBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit-bench",
        abstract: "How fast the audit trail grows, and how long verifying it takes (make bench-audit)."
    )

    @Option(help: "Entries to append and verify.")
    var entries = 100_000

    @Option(help: "The SQLite migration that creates the audit trail.")
    var migration = "Services/Payment/Migrations/004_audit.sqlite.sql"

    func validate() throws {
        guard entries > 0 else { throw ValidationError("--entries must be positive.") }
    }
}

let command = AuditBenchCommand.parseOrExit()
let entries = command.entries
let migration = command.migration
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-bench-\(UUID().uuidString)").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
let database = try await Storage.open(url: DatabaseURL("sqlite://\(directory)/audit.db"), poolSize: 2)
let sql = try String(contentsOfFile: migration, encoding: .utf8)
try await database.write { try $0.executeScript(sql) }

// One entry per transaction, as a change writes it (a sample of 2,000), then the rest in batches.
let single = min(2_000, entries)
var start = ContinuousClock.now
for index in 0..<single {
    _ = try await database.write { connection in
        try AuditTrail.append(
            connection,
            action: "stock.set",
            target: "SKU-\(index % 500)",
            context: AuditContext(actor: "operator:ana", traceID: "4bf92f3577b34da6a3ce929d0e0e4736", requestID: "r-\(index)")
        )
    }
}
let singleTime = ContinuousClock.now - start
var written = single
while written < entries {
    let batch = min(1_000, entries - written)
    let offset = written
    _ = try await database.write { connection in
        for index in 0..<batch {
            try AuditTrail.append(
                connection,
                action: "checkout.start",
                target: "checkout-\(offset + index)",
                context: AuditContext(
                    actor: "customer:alice",
                    traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
                    requestID: "r-\(offset + index)"
                )
            )
        }
    }
    written += batch
}
start = ContinuousClock.now
let verdict = try await AuditTrail.verify(database)
let verifyTime = ContinuousClock.now - start
let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/audit.db")[.size] as? Int) ?? 0
await database.close()
func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
print("audit trail: \(entries) entries, \(size / max(entries, 1)) bytes each on disk")
print(
    String(
        format: "append, one durable transaction each: %.0f entries/s (%.2f ms per change)",
        Double(single) / seconds(singleTime),
        seconds(singleTime) * 1000 / Double(single)
    )
)
print(
    String(
        format: "verify: %.2f s for %d entries (%.0f entries/s): %@",
        seconds(verifyTime),
        entries,
        Double(entries) / seconds(verifyTime),
        verdict.description
    )
)
exit(verdict.broken == nil ? 0 : 1)
