import Foundation
import OrderCore
import Storage
import Testing

@testable import Gateway
@testable import Inventory
@testable import Order
@testable import Payment
@testable import Saga
@testable import Shipping

/// Each executable carries its migrations and documents (SwiftPM's `embedInCode`), listed by hand in its
/// `Embedded.swift`: a file added to a folder and not to the list, or a list entry pointing at another file,
/// fails here.
@Suite("Embedded resources")
struct EmbeddedResourceTests {
    static let migrations: [(folder: String, files: MigrationFiles)] = [
        ("Services/Gateway/Migrations", Gateway.Embedded.migrations),
        ("Services/Inventory/Migrations", Inventory.Embedded.migrations),
        ("Services/Order/Core/Migrations", OrderSchema.migrations),
        ("Services/Payment/Migrations", Payment.Embedded.migrations),
        ("Services/Shipping/Migrations", Shipping.Embedded.migrations),
        ("Services/Saga/App/Migrations", Saga.Embedded.migrations),
    ]

    static let documents: [(path: String, bytes: [UInt8])] = [
        ("Services/Gateway/Resources/openapi.json", Gateway.Embedded.openAPI),
        ("Services/Inventory/Resources/openapi.json", Inventory.Embedded.openAPI),
        ("Services/Order/App/Resources/openapi.json", Order.Embedded.openAPI),
        ("Services/Payment/Resources/openapi.json", Payment.Embedded.openAPI),
        ("Services/Shipping/Resources/openapi.json", Shipping.Embedded.openAPI),
        ("Services/Saga/App/Resources/openapi.json", Saga.Embedded.openAPI),
    ]

    static let root = FileManager.default.currentDirectoryPath

    @Test func everyMigrationFileIsEmbeddedUnderItsOwnName() throws {
        for (folder, embedded) in Self.migrations {
            let onDisk = try MigrationFiles(directory: URL(fileURLWithPath: "\(Self.root)/\(folder)"))
            let sorted: (MigrationFiles) -> [MigrationFiles.File] = { $0.files.sorted { $0.name < $1.name } }
            #expect(sorted(embedded).map(\.name) == sorted(onDisk).map(\.name), "\(folder)")
            #expect(sorted(embedded) == sorted(onDisk), "\(folder): an embedded file differs from the one on disk")
            for dialect in [SQLDialect.sqlite, .postgres] {
                #expect(try embedded.migrations(for: dialect) == onDisk.migrations(for: dialect), "\(folder) \(dialect)")
            }
        }
    }

    @Test func everyDocumentIsEmbedded() throws {
        for (path, bytes) in Self.documents {
            #expect(bytes == Array(try Data(contentsOf: URL(fileURLWithPath: "\(Self.root)/\(path)"))), "\(path)")
        }
        let folder = "\(Self.root)/Services/Gateway/Resources/console"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(Gateway.Embedded.console.map(\.key).sorted() == names)
        for (name, bytes) in Gateway.Embedded.console {
            #expect(bytes == Array(try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(name)"))), "console/\(name)")
        }
    }
}
