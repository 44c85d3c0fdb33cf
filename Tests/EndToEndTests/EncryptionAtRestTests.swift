import Foundation
import HTTP
import Storage
import TestSupport
import Testing

/// Personal data and tokens at rest: after checkouts and a cancellation, no database file, WAL or log
/// holds the customer's name, address or card number in clear text; `rotate-keys` re-seals everything
/// under a new key while the services run.
@Suite("Encryption at rest", .serialized)
struct EncryptionAtRestTests {
    /// A Visa-like number that passes the Luhn check, unique to this run.
    static func distinctiveCard() -> String {
        var digits = [4] + (0..<14).map { _ in Int.random(in: 0...9) }
        var sum = 0
        for (index, digit) in digits.reversed().enumerated() {
            let doubled = index % 2 == 0 ? digit * 2 : digit
            sum += doubled > 9 ? doubled - 9 : doubled
        }
        digits.append((10 - sum % 10) % 10)
        return digits.map(String.init).joined()
    }

    struct Secrets {
        let name = "Zelda Quuxington \(UUID().uuidString.prefix(6))"
        let street = "742 Evergreen Terrazzo \(UUID().uuidString.prefix(6))"
        let card = EncryptionAtRestTests.distinctiveCard()

        func body(sku: String) -> String {
            """
            {"items":[{"sku":"\(sku)","quantity":1}],
             "payment":{"cardNumber":"\(card)","expMonth":11,"expYear":2031,"cvc":"987"},
             "shipping":{"name":"\(name)","line1":"\(street)","city":"Lisbon","postalCode":"1100-148","country":"PT"}}
            """
        }

        var needles: [String] { [name, street, card, String(card.suffix(8))] }
    }

    /// Every needle found in clear text in `paths` (files, recursively), with where.
    static func scan(_ paths: [String], for needles: [String], extra: [String: String] = [:]) -> [String] {
        var found: [String] = []
        let patterns = needles.map { Data($0.utf8) }
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if !isDirectory.boolValue {
                files.append(path)
                continue
            }
            let enumerator = FileManager.default.enumerator(atPath: path)
            while let relative = enumerator?.nextObject() as? String { files.append(path + "/" + relative) }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            for (needle, pattern) in zip(needles, patterns) where data.range(of: pattern) != nil { found.append("\(needle) in \(file)") }
        }
        for (name, text) in extra {
            for needle in needles where text.contains(needle) { found.append("\(needle) in \(name)") }
        }
        return found
    }

    @Test(arguments: Layout.available)
    func noPersonalDataInClearTextAnywhere(_ layout: Layout) async throws {
        let system = try await SagaMartSystem(layout: layout)
        let secrets = Secrets()
        let sku = uniqueSKU("ENC")
        try await system.createProduct(sku, stock: 5)
        let key = UUID().uuidString
        let created = try await system.checkout(secrets.body(sku: sku), idempotencyKey: key)
        #expect(created.status.code == 201, "\(created.bodyText)")
        let orderId = try #require(created.object["orderId"] as? String)
        // A replay opens the sealed start command and matches the keyed fingerprint.
        let replay = try await system.checkout(secrets.body(sku: sku), idempotencyKey: key)
        #expect(replay.status.code == 201 && replay.object["orderId"] as? String == orderId)
        #expect(try await system.call("POST", "/v1/orders/\(orderId)/cancel", key: alice).status.code == 200)
        let logs = Dictionary(uniqueKeysWithValues: SagaMartSystem.services.map { ("\($0) log", system.output($0)) })
        var paths = [system.directory]
        if layout != .sqlite, let cluster = try? PostgresCluster.shared() { paths.append(cluster.directory) }
        // Reading every file is blocking work: off the cooperative pool, where other suites' servers run.
        let needles = secrets.needles
        let scanned = paths
        let found = try await offPool { Self.scan(scanned, for: needles, extra: logs) }
        #expect(found.isEmpty, "\(found)")
        // And no payment token in clear text: tokens are pm_ and 32 hex digits.
        let directory = system.directory
        let tokens = try await offPool { try Self.scanForTokens([directory]) }
        #expect(tokens.isEmpty, "\(tokens)")
    }

    static func scanForTokens(_ paths: [String]) throws -> [String] {
        let expression = try NSRegularExpression(pattern: "pm_[0-9a-f]{32}")
        var found: [String] = []
        for path in paths {
            for relative in FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? [] {
                guard let data = FileManager.default.contents(atPath: path + "/" + relative) else { continue }
                let text = String(decoding: data, as: UTF8.self)
                if expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil { found.append(relative) }
            }
        }
        return found
    }

    static func randomKey() -> String {
        Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }

    @Test("rotate-keys re-seals every value under the new key while the services run; then the old key can go")
    func rotationWithoutDowntime() async throws {
        let old = Self.randomKey()
        let new = Self.randomKey()
        let sealing = ["gateway", "saga", "payment", "shipping"]
        var overrides: [String: [String: String]] = [:]
        for service in sealing { overrides[service] = ["ENCRYPTION_KEYS": "k1:\(old)"] }
        let system = try await SagaMartSystem(overrides: overrides)
        let sku = uniqueSKU("ROT")
        try await system.createProduct(sku, stock: 20)
        let secrets = Secrets()
        let key = UUID().uuidString
        let first = try await system.checkout(secrets.body(sku: sku), idempotencyKey: key)
        #expect(first.status.code == 201)
        let orderId = try #require(first.object["orderId"] as? String)
        // A row from before encryption: clear text that rotation must seal too.
        let shipping = try await Storage.open(url: DatabaseURL("sqlite://\(system.directory)/shipping.db"), poolSize: 1)
        let legacy = "Legacy Name \(UUID().uuidString.prefix(6))"
        try await shipping.write { try $0.execute("UPDATE shipments SET name = $1 WHERE order_id = $2", legacy, orderId) }
        await shipping.close()

        // The new key becomes active, one service at a time; the old one stays readable.
        for service in sealing {
            system.setEnvironment(service, "ENCRYPTION_KEYS", "k1:\(old),k2:\(new)")
            system.setEnvironment(service, "ENCRYPTION_ACTIVE_KEY", "k2")
            await system.kill(service)
            try system.start(service)
            try await system.waitReady(service)
        }
        // Traffic goes on while every service's rotation runs.
        async let traffic: [Int] = {
            var codes: [Int] = []
            for _ in 0..<5 { codes.append(try await system.checkout(checkoutBody(sku: sku)).status.code) }
            return codes
        }()
        for service in sealing {
            let (code, output) = try await system.runCommand(service, ["rotate-keys", "--batch", "2"], extra: ["OPERATOR": "ana"])
            #expect(code == 0, "\(service): \(output)")
            #expect(output.contains("rotated to key k2") && output.contains("0 left under other keys"), "\(service): \(output)")
        }
        #expect(try await traffic.allSatisfy { $0 == 201 })
        // The rotation is on each service's audit trail, as the operator's.
        let audit = try await system.call("GET", "/v1/admin/audit?service=saga&actor=operator:ana", key: admin)
        #expect(
            (audit.object["items"] as? [[String: Any]] ?? []).contains {
                $0["action"] as? String == "keys.rotate" && $0["target"] as? String == "key:k2"
            },
            "\(audit.bodyText)"
        )
        for service in sealing {
            let files = ["\(service).db", "\(service).db-wal"].map { "\(system.directory)/\($0)" }
            // Every sealed value now names k2; k1's live rows are gone (a WAL frame may still hold an old page).
            let database = try await Storage.open(url: DatabaseURL("sqlite://\(files[0])"), poolSize: 1)
            let dump = try await database.read { connection in
                try connection.query("SELECT name FROM sqlite_master WHERE type = 'table'").map { try $0.decode("name", as: String.self) }
                    .flatMap { table in
                        try connection.query("SELECT * FROM \(table)").map { row in "\(row.values)" }
                    }.joined(separator: "\n")
            }
            await database.close()
            #expect(!dump.contains("enc:v1:k1:"), "\(service) still holds values under k1")
            #expect(dump.contains("enc:v1:k2:"), "\(service) holds no value under k2")
            #expect(!dump.contains(legacy), "\(service) holds the legacy clear text")
        }
        // The old key can now be dropped: every service still reads what it holds.
        for service in sealing {
            system.setEnvironment(service, "ENCRYPTION_KEYS", "k2:\(new)")
            await system.kill(service)
            try system.start(service)
            try await system.waitReady(service)
        }
        let replay = try await system.checkout(secrets.body(sku: sku), idempotencyKey: key)
        #expect(replay.status.code == 201 && replay.object["orderId"] as? String == orderId)
        #expect(try await system.call("GET", "/v1/sagas?limit=50", key: admin).status.code == 200)
        #expect(try await system.call("POST", "/v1/orders/\(orderId)/cancel", key: alice).status.code == 200)
        #expect(try await system.checkout(checkoutBody(sku: sku)).status.code == 201)
    }
}
