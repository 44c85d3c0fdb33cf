import Foundation
import ServiceKit
import Storage
import TestSupport
import Testing

@Suite("Keyring: sealed values, key ids, indexes")
struct KeyringTests {
    static let k1 = Data(repeating: 1, count: 32).base64EncodedString()
    static let k2 = Data((0..<32).map { UInt8($0) }).base64EncodedString()
    static let index = Data(repeating: 9, count: 32).base64EncodedString()

    func keyring(_ keys: String, active: String? = nil, deployment: String = "production") throws -> Keyring {
        var values = ["ENCRYPTION_KEYS": keys, "INDEX_KEY": Self.index, "SAGAMART_ENV": deployment]
        if let active { values["ENCRYPTION_ACTIVE_KEY"] = active }
        return try Keyring(environment: Environment(values), service: "test")
    }

    @Test func sealedValuesOpenOnlyWithTheirKeyAndContext() throws {
        let ring = try keyring("k1:\(Self.k1)")
        let sealed = ring.seal("Zelda, 742 Evergreen", context: "shipments.name")
        #expect(sealed.hasPrefix("enc:v1:k1:"))
        #expect(!sealed.contains("Zelda"))
        #expect(ring.seal("Zelda, 742 Evergreen", context: "shipments.name") != sealed, "a fresh nonce each time")
        #expect(try ring.open(sealed, context: "shipments.name") == "Zelda, 742 Evergreen")
        #expect(throws: Keyring.Failure.corrupt) { try ring.open(sealed, context: "shipments.city") }
        var tampered = Array(sealed)
        tampered[tampered.count - 5] = tampered[tampered.count - 5] == "A" ? "B" : "A"
        #expect(throws: Keyring.Failure.corrupt) { try ring.open(String(tampered), context: "shipments.name") }
        #expect(try ring.open("clear text from before", context: "x") == "clear text from before")
        let other = try keyring("k2:\(Self.k2)")
        #expect(throws: Keyring.Failure.unknownKey("k1")) { try other.open(sealed, context: "shipments.name") }
    }

    @Test func rotationResealsUnderTheActiveKeyAndReadsBoth() throws {
        let before = try keyring("k1:\(Self.k1)")
        let old = before.seal("secret", context: "c")
        let during = try keyring("k1:\(Self.k1),k2:\(Self.k2)", active: "k2")
        #expect(during.needsRotation(old))
        #expect(during.needsRotation("clear"))
        let fresh = try #require(try during.resealed(old, context: "c"))
        #expect(Keyring.keyID(of: fresh) == "k2")
        #expect(try during.resealed(fresh, context: "c") == nil)
        #expect(try during.open(old, context: "c") == "secret")
        let after = try keyring("k2:\(Self.k2)")
        #expect(try after.open(fresh, context: "c") == "secret")
    }

    @Test func indexesAreStableKeyedAndSeparatedByPurpose() throws {
        let ring = try keyring("k1:\(Self.k1)")
        let rotated = try keyring("k1:\(Self.k1),k2:\(Self.k2)", active: "k2")
        #expect(ring.index("pm_abc", purpose: "payment-token") == rotated.index("pm_abc", purpose: "payment-token"))
        #expect(ring.index("pm_abc", purpose: "payment-token") != ring.index("pm_abc", purpose: "other"))
        #expect(ring.index("pm_abc", purpose: "payment-token").count == 64)
        let otherIndexKey = try Keyring(
            environment: Environment(["ENCRYPTION_KEYS": "k1:\(Self.k1)", "INDEX_KEY": Self.k2, "SAGAMART_ENV": "production"]),
            service: "test"
        )
        #expect(otherIndexKey.index("pm_abc", purpose: "payment-token") != ring.index("pm_abc", purpose: "payment-token"))
    }

    @Test func configurationErrorsNameTheVariable() throws {
        for (keys, active, variable) in [
            ("replace-me", nil, "ENCRYPTION_KEYS"), ("k1:c2hvcnQ=", nil, "ENCRYPTION_KEYS"),
            ("k1:\(Self.k1),k1:\(Self.k2)", nil, "ENCRYPTION_KEYS"),
            ("k1:\(Self.k1),k2:\(Self.k2)", nil, "ENCRYPTION_ACTIVE_KEY"), ("k1:\(Self.k1)", "k9", "ENCRYPTION_ACTIVE_KEY"),
        ] as [(String, String?, String)] {
            #expect(throws: ConfigError.self) { try keyring(keys, active: active) }
            do { _ = try keyring(keys, active: active) } catch let error as ConfigError { #expect(error.variable == variable) }
        }
        // Production has no default keys; development has fixed ones, which production refuses.
        #expect(throws: ConfigError(variable: "ENCRYPTION_KEYS", problem: "is required but not set")) {
            try Keyring(environment: Environment(["SAGAMART_ENV": "production"]), service: "test")
        }
        let development = try Keyring(environment: Environment(["SAGAMART_ENV": "development"]), service: "saga")
        #expect(development.activeKeyID == "dev")
    }

    @Test func keysFromMountedFiles() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "k1:\(Self.k1)\nk2:\(Self.k2)\n".write(toFile: directory + "/keys", atomically: true, encoding: .utf8)
        try "k2\n".write(toFile: directory + "/active", atomically: true, encoding: .utf8)
        try Self.index.write(toFile: directory + "/index", atomically: true, encoding: .utf8)
        let ring = try Keyring(
            environment: Environment([
                "ENCRYPTION_KEYS_FILE": directory + "/keys", "ENCRYPTION_ACTIVE_KEY_FILE": directory + "/active",
                "INDEX_KEY_FILE": directory + "/index", "SAGAMART_ENV": "production",
            ]),
            service: "test"
        )
        #expect(ring.activeKeyID == "k2")
        #expect(throws: ConfigError.self) {
            try Keyring(environment: Environment(["ENCRYPTION_KEYS_FILE": directory + "/missing"]), service: "test")
        }
    }

    @Test("rotation over a table: every row, clear text included, re-sealed in small batches")
    func rotationOfATable() async throws {
        let database = try await Storage.open(url: DatabaseURL("sqlite::memory:"), poolSize: 1)
        try await database.write { try $0.execute("CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)") }
        let old = try keyring("k1:\(Self.k1)")
        try await database.write { connection in
            for index in 0..<25 {
                try connection.execute(
                    "INSERT INTO t VALUES ($1, $2)",
                    String(format: "%03d", index),
                    old.seal("value \(index)", context: "t.v")
                )
            }
            try connection.execute("INSERT INTO t VALUES ('legacy', 'clear')")
        }
        let new = try keyring("k1:\(Self.k1),k2:\(Self.k2)", active: "k2")
        let column = SealedColumn.text("t", key: "id", column: "v", keyring: new)
        #expect(try await KeyRotation.remaining(database, columns: [column]) == 26)
        let report = try await KeyRotation.run(database, columns: [column], batchSize: 4)
        #expect(report.resealed == 26)
        #expect(try await KeyRotation.remaining(database, columns: [column]) == 0)
        let values = try await database.read { try $0.query("SELECT v FROM t ORDER BY id").map { try $0.decode("v", as: String.self) } }
        #expect(try values.map { try new.open($0, context: "t.v") }.contains("value 7"))
        #expect(try new.open(values.last!, context: "t.v") == "clear")
        await database.close()
    }
}
