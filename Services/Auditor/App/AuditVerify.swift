import AuditorCore
import FoundationEssentials
import Glibc
import HTTP
import Platform
import ServiceKit
import Storage

/// `audit verify`: checks the audit trail of each service, through its API (`GET /v1/audit-log`, as the
/// auditor) or straight from databases (`--database URL`, any number). Prints one line per trail; exit
/// status 0 when every chain is intact, 1 when one is broken, 2 when one cannot be read.
enum AuditVerify {
    static func run(databases: [String]) async -> Never {
        var status: Int32 = 0
        do {
            if databases.isEmpty {
                status = try await verifyServices()
            } else {
                for url in databases {
                    let start = ContinuousClock.now
                    let database = try await Storage.open(url: try DatabaseURL(url), poolSize: 1)
                    let verdict = try await AuditTrail.verify(database)
                    await database.close()
                    print("\(DatabaseURL.redacted(url)): \(verdict) in \(ContinuousClock.now - start)")
                    if verdict.broken != nil { status = 1 }
                }
            }
        } catch {
            StandardStream.error.write("audit: \(error)\n")
            exit(2)
        }
        exit(status)
    }

    static func verifyServices() async throws -> Int32 {
        let environment = Environment()
        let authenticator = try ServiceAuthenticator(environment: environment, service: "auditor")
        let client = HTTPClient(configuration: HTTPClientConfiguration(requestTimeout: .seconds(30)))
        var status: Int32 = 0
        for (index, service) in ["inventory", "order", "payment", "shipping", "saga"].enumerated() {
            let base = try environment.url("\(service.uppercased())_URL", default: "http://127.0.0.1:\(8081 + index)")
            var verifier = AuditTrail.Verifier()
            var after: Int64 = 0
            var head: AuditLogPage.Head?
            while true {
                let response = try await client.get(
                    "\(base)/v1/audit-log?after=\(after)&limit=\(AuditLogRoute.maxPageSize)",
                    headers: authenticator.authorization(for: service)
                )
                guard response.status.code == 200 else {
                    StandardStream.error.write("audit: \(service) answered \(response.status.code)\n")
                    return 2
                }
                let page = try response.decode(AuditLogPage.self)
                for entry in page.items { verifier.feed(entry) }
                head = page.head
                guard let next = page.next else { break }
                after = next
            }
            verifier.finish(headSeq: head?.seq ?? 0, headHash: head?.hash ?? "")
            print("\(service): \(verifier.verdict)")
            if verifier.verdict.broken != nil { status = 1 }
        }
        return status
    }
}
