// swift-tools-version:6.1
import PackageDescription

/// How the executables that ship (the six services, audit, backup) are linked in release builds on Linux: by
/// lld, with the relative relocations packed (`DT_RELR`, glibc 2.36: Debian 12, the image's base) and without
/// exporting every symbol (`--static-swift-stdlib` passes `-export-dynamic`). An idle service reads its
/// relocation table and dynamic symbols once at start: 1.3 MB and 0.9 MB of a statically linked service,
/// about 2 MB of its resident memory for nothing it uses afterwards.
///
/// The functions a service runs at start and on its first requests are laid out first, in the order they
/// first ran (`Deploy/startup.order`, written by `make startup-order`; scripts/build-release.sh compiles
/// with a section per function so that the linker can move them one by one). The kernel maps an executable's
/// code around each page touched (64 kB, more where the page cache holds the file in large folios), so
/// start-up code spread over fourteen megabytes kept most of them resident in every idle service.
let shippedLinking: [LinkerSetting] = [
    .unsafeFlags(
        [
            "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic",
            // A listed function that a build does not have (renamed, or another toolchain's) is skipped.
            "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/Deploy/startup.order",
            "-Xlinker", "--no-warn-symbol-ordering",
        ],
        .when(platforms: [.linux], configuration: .release)
    )
]

/// SagaMart: separate service executables on shared libraries for HTTP, storage and service bootstrap.
/// The dependency arrows point one way: Services -> ServiceKit/Messaging/Storage/HTTP -> C targets.
let package = Package(
    name: "SagaMart",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "HTTP", targets: ["HTTP"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "ServiceKit", targets: ["ServiceKit"]),
        .library(name: "Messaging", targets: ["Messaging"]),
        .library(name: "Contracts", targets: ["Contracts"]),
        .executable(name: "echo-server", targets: ["EchoServer"]),
        .executable(name: "load", targets: ["Load"]),
        .executable(name: "events-bench", targets: ["EventsBench"]),
        .executable(name: "audit-bench", targets: ["AuditBench"]),
        .executable(name: "json-bench", targets: ["JSONBench"]),
        .executable(name: "inventory", targets: ["Inventory"]),
        .executable(name: "order", targets: ["Order"]),
        .executable(name: "payment", targets: ["Payment"]),
        .executable(name: "shipping", targets: ["Shipping"]),
        .executable(name: "saga", targets: ["Saga"]),
        .executable(name: "gateway", targets: ["Gateway"]),
        .executable(name: "audit", targets: ["Audit"]),
        .executable(name: "backup", targets: ["Backup"]),
        .executable(name: "fuzz", targets: ["Fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // libpq's header only (libpq-dev): the library is opened at run time by the first PostgreSQL database,
        // so nothing links it (see Shared/CLibPQ/shim.h).
        .systemLibrary(name: "CLibPQ", path: "Shared/CLibPQ"),
        .systemLibrary(
            name: "CSQLite",
            path: "Shared/CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // A VFS over SQLite's default one that makes the frames of a WAL commit one write system call
        // instead of two per page (see Shared/CSQLiteWAL/include/sqlite_wal_buffer.h).
        .target(name: "CSQLiteWAL", dependencies: ["CSQLite"], path: "Shared/CSQLiteWAL"),
        .systemLibrary(name: "CSystem", path: "Shared/CSystem"),
        // What the services took from the full Foundation (threads, condition variables, a few string helpers),
        // so that they link FoundationEssentials only.
        .target(name: "Platform", dependencies: ["CSystem"], path: "Shared/Platform"),
        .target(
            name: "HTTP",
            dependencies: ["CSystem", "Platform", .product(name: "Logging", package: "swift-log")],
            path: "Shared/HTTP"
        ),
        .target(
            name: "Storage",
            dependencies: [
                "CLibPQ", "CSQLite", "CSQLiteWAL", "Platform",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Shared/Storage"
        ),
        .target(
            name: "Contracts",
            dependencies: ["CSystem", "Platform"],
            path: "Shared/Contracts"
        ),
        .target(
            name: "Messaging",
            dependencies: [
                "HTTP", "Storage", "Contracts", "CSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/Messaging"
        ),
        .target(
            name: "ServiceKit",
            dependencies: [
                "HTTP", "Storage", "Contracts", "CSystem", "Platform",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Shared/ServiceKit"
        ),
        .executableTarget(
            name: "EchoServer",
            dependencies: ["ServiceKit", "HTTP", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/EchoServer"
        ),
        .executableTarget(
            name: "JSONBench",
            dependencies: ["HTTP", "Contracts", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/JSONBench"
        ),
        .executableTarget(
            name: "AuditBench",
            dependencies: ["Storage", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/AuditBench"
        ),
        .executableTarget(
            name: "EventsBench",
            dependencies: [
                "Messaging", "ServiceKit", "HTTP", "Storage", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/EventsBench"
        ),
        // make load and make bench-checkout: checkouts through the gateway at a rate or a concurrency.
        .executableTarget(
            name: "Load",
            dependencies: ["HTTP", "Contracts", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tools/Load"
        ),
        .executableTarget(
            name: "Inventory",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"), "ServiceKit", "Messaging", "HTTP", "Storage",
                "Contracts",
            ],
            path: "Services/Inventory",
            resources: [.embedInCode("Migrations"), .embedInCode("Resources")],
            linkerSettings: shippedLinking
        ),
        .target(
            name: "OrderCore",
            dependencies: ["Messaging", "HTTP", "Storage", "Contracts"],
            path: "Services/Order/Core",
            resources: [.embedInCode("Migrations")]
        ),
        .executableTarget(
            name: "Order",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "OrderCore", "ServiceKit", "Messaging", "HTTP", "Storage", "Contracts",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Services/Order/App",
            resources: [.embedInCode("Resources")],
            linkerSettings: shippedLinking
        ),
        .executableTarget(
            name: "Payment",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"), "ServiceKit", "Messaging", "HTTP", "Storage",
                "Contracts",
            ],
            path: "Services/Payment",
            resources: [.embedInCode("Migrations"), .embedInCode("Resources")],
            linkerSettings: shippedLinking
        ),
        .executableTarget(
            name: "Shipping",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"), "ServiceKit", "Messaging", "HTTP", "Storage",
                "Contracts",
            ],
            path: "Services/Shipping",
            resources: [.embedInCode("Migrations"), .embedInCode("Resources")],
            linkerSettings: shippedLinking
        ),
        .executableTarget(
            name: "Saga",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"), "SagaCore", "ServiceKit", "HTTP", "Storage",
                "Contracts",
            ],
            path: "Services/Saga/App",
            resources: [.embedInCode("Migrations"), .embedInCode("Resources")],
            linkerSettings: shippedLinking
        ),
        .target(
            name: "AuditorCore",
            dependencies: ["ServiceKit", "HTTP", "Storage", "Contracts"],
            path: "Services/Auditor/Core"
        ),
        .executableTarget(
            name: "Audit",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"), "AuditorCore", "ServiceKit", "HTTP", "Storage",
            ],
            path: "Services/Auditor/App",
            linkerSettings: shippedLinking
        ),
        .target(
            name: "BackupCore",
            dependencies: ["Storage", .product(name: "Crypto", package: "swift-crypto")],
            path: "Tools/Backup/Core"
        ),
        .executableTarget(
            name: "Backup",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser"), "BackupCore", "Storage"],
            path: "Tools/Backup/App",
            linkerSettings: shippedLinking
        ),
        // libFuzzer targets (make fuzz builds them with -sanitize=fuzzer,address and -DFUZZING).
        .executableTarget(name: "Fuzz", dependencies: ["HTTP", "Contracts"], path: "Tools/Fuzz/Sources"),
        .executableTarget(
            name: "Gateway",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"), "AuditorCore", "ServiceKit", "Messaging", "HTTP",
                "Storage", "Contracts",
            ],
            path: "Services/Gateway",
            resources: [.embedInCode("Migrations"), .embedInCode("Resources")],
            linkerSettings: shippedLinking
        ),
        .target(
            name: "SagaCore",
            dependencies: ["Contracts"],
            path: "Services/Saga/Core"
        ),
        .target(
            name: "TestSupport",
            dependencies: ["Storage", "HTTP", "BackupCore"],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "EmbeddedResourceTests",
            dependencies: ["Gateway", "Inventory", "Order", "OrderCore", "Payment", "Shipping", "Saga", "Storage"],
            path: "Tests/EmbeddedResourceTests"
        ),
        .testTarget(name: "PlatformTests", dependencies: ["Platform"], path: "Tests/PlatformTests"),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "TestSupport"], path: "Tests/HTTPTests"),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "TestSupport", "CSQLite", "CSQLiteWAL"], path: "Tests/StorageTests"),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "TestSupport", "HTTP", "ServiceKit", "Storage", "OrderCore", "Contracts", "Platform",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/EndToEndTests"
        ),
        .testTarget(name: "DeployTests", dependencies: ["TestSupport"], path: "Tests/DeployTests"),
        .testTarget(
            name: "MessagingTests",
            dependencies: ["Messaging", "ServiceKit", "HTTP", "Storage", "TestSupport"],
            path: "Tests/MessagingTests"
        ),
        .testTarget(
            name: "OrderTests",
            dependencies: ["OrderCore", "HTTP", "Messaging", "Storage", "Contracts", "TestSupport"],
            path: "Tests/OrderTests"
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: ["Gateway", "ServiceKit", "HTTP", "Contracts", "AuditorCore", "Messaging", "Storage", "TestSupport"],
            path: "Tests/GatewayTests"
        ),
        .testTarget(
            name: "SagaStoreTests",
            dependencies: ["Saga", "SagaCore", "ServiceKit", "Storage", "Contracts"],
            path: "Tests/SagaStoreTests"
        ),
        .testTarget(name: "SagaTests", dependencies: ["SagaCore", "Contracts"], path: "Tests/SagaTests"),
        .testTarget(name: "AuditorTests", dependencies: ["AuditorCore", "Contracts"], path: "Tests/AuditorTests"),
        .testTarget(
            name: "BackupTests",
            dependencies: ["BackupCore", "Storage", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            path: "Tests/BackupTests"
        ),
        .testTarget(
            name: "ServiceKitTests",
            dependencies: ["ServiceKit", "HTTP", "Storage", "TestSupport"],
            path: "Tests/ServiceKitTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
