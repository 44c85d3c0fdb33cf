// swift-tools-version:6.1
import PackageDescription

/// The comparison server for `make bench-http`: Hummingbird 2 with the same two routes as our echo server.
/// A separate package, so the main build and CI never build Hummingbird.
let package = Package(
    name: "HummingbirdEcho",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1")
    ],
    targets: [
        .executableTarget(
            name: "HummingbirdEcho",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        )
    ],
    swiftLanguageModes: [.v6]
)
