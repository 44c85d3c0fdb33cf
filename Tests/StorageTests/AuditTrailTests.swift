import Foundation
import Storage
import TestSupport
import Testing

/// The audit trail's table, as every service's migration makes it: a hash chain the database will not let
/// anyone change, and a verifier that names the first entry an attacker with the files changed anyway.
@Suite("Audit trail")
struct AuditTrailTests {
    /// The migration every service runs (they are one text; the payment service's stands for all).
    static func migrate(_ database: any Database) async throws {
        let sql = try auditTrailMigration(database.dialect)
        try await database.write { try $0.executeScript(sql) }
    }

    static func appendSome(_ database: any Database, count: Int) async throws {
        for index in 1...count {
            try await AuditContext.$current.withValue(AuditContext(actor: "operator:ana", traceID: "t\(index)", requestID: "r\(index)")) {
                let context = AuditContext.current
                _ = try await database.write {
                    try AuditTrail.append($0, action: "stock.set", target: "SKU-\(index % 3)", context: context)
                }
            }
        }
    }

    @Test(arguments: [Backend.sqliteFile] + (PostgresCluster.isAvailable ? [Backend.postgres] : []))
    func entriesChainAndTheDatabaseRefusesChanges(_ backend: Backend) async throws {
        let url =
            backend == .postgres
            ? try await offPool { try PostgresCluster.shared() }.createDatabase(prefix: "audit", ownRole: true)
            : try await backend.makeURL()
        let database = try await Storage.open(url: DatabaseURL(url), poolSize: 2)
        try await Self.migrate(database)
        try await Self.appendSome(database, count: 12)
        let verdict = try await AuditTrail.verify(database)
        #expect(verdict.broken == nil && verdict.entries == 12, "\(verdict)")
        let page = try await database.read { try AuditTrail.page($0, target: "SKU-1") }
        #expect(page.count == 4 && page.allSatisfy { $0.actor == "operator:ana" && $0.action == "stock.set" })
        #expect(page.first?.traceId == "t1" && page.first?.requestId == "r1")
        // Times are RFC 3339 in UTC with milliseconds, and say when the entry was written.
        let at = try #require(page.first?.at)
        #expect(at.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(at)")
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        #expect(abs(try #require(parser.date(from: at)).timeIntervalSinceNow) < 60)
        for statement in ["UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", "DELETE FROM audit_log WHERE seq = 12"]
            + (backend == .postgres ? ["TRUNCATE audit_log"] : [])
        {
            await #expect(throws: DatabaseError.self, "\(statement)") { try await database.write { try $0.executeScript(statement) } }
        }
        await database.close()

        // Someone with the files (or the superuser) takes the guard off and edits entry 5.
        let attackerURL: String
        if backend == .postgres {
            attackerURL = try await offPool { try PostgresCluster.shared() }.url(database: String(url.split(separator: "/").last!))
        } else {
            attackerURL = url
        }
        let attacker = try await Storage.open(url: DatabaseURL(attackerURL), poolSize: 1)
        let disable =
            backend == .postgres
            ? "ALTER TABLE audit_log DISABLE TRIGGER USER" : "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete"
        try await attacker.write { try $0.executeScript(disable) }
        try await attacker.write { try $0.executeScript("UPDATE audit_log SET actor = 'operator:ben' WHERE seq = 5") }
        let edited = try await AuditTrail.verify(attacker)
        #expect(edited.broken?.seq == 5, "\(edited)")
        #expect(edited.broken?.reason.contains("edited") == true)
        // Removing the last entries is seen too: the head still names the last one.
        try await attacker.write { try $0.executeScript("UPDATE audit_log SET actor = 'operator:ana' WHERE seq = 5") }
        #expect(try await AuditTrail.verify(attacker).broken == nil)
        try await attacker.write { try $0.executeScript("DELETE FROM audit_log WHERE seq >= 11") }
        let truncated = try await AuditTrail.verify(attacker)
        #expect(truncated.broken?.seq == 11, "\(truncated)")
        await attacker.close()
    }

    @Test func appendsFromConcurrentTransactionsStayOneChain() async throws {
        guard PostgresCluster.isAvailable else { return }
        let url = try await offPool { try PostgresCluster.shared() }.createDatabase(prefix: "auditrace")
        let database = try await Storage.open(url: DatabaseURL(url), poolSize: 6)
        try await Self.migrate(database)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<6 {
                group.addTask {
                    for index in 0..<20 {
                        _ = try await database.write {
                            try AuditTrail.append(
                                $0,
                                action: "test",
                                target: "w\(worker)-\(index)",
                                context: AuditContext(actor: "service:t")
                            )
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let verdict = try await AuditTrail.verify(database)
        #expect(verdict.entries == 120 && verdict.broken == nil, "\(verdict)")
        await database.close()
    }
}
