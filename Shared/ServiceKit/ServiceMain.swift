import FoundationEssentials
import Glibc
import Platform

/// The whole life of a service's process, from reading its configuration to the end of its drain.
public enum ServiceMain {
    /// Runs `body` and exits. A configuration error (a missing or malformed variable) ends the process with one
    /// line on standard error and status 78 (`EX_CONFIG`), not a crash report; any other error that ends it
    /// is printed with status 1.
    public static func run(_ name: String, _ body: () async throws -> Void) async -> Never {
        do {
            try await body()
            exit(0)
        } catch let error as ConfigError {
            StandardStream.error.write("\(name): \(error)\n")
            exit(78)
        } catch {
            StandardStream.error.write("\(name): stopped: \(error)\n")
            exit(1)
        }
    }
}
