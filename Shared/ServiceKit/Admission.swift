import HTTP
import Synchronization

/// Admission control: at most `limit` units of work in progress; beyond it, work is refused at once with
/// 503 and `Retry-After` (never left to time out in a queue), so the work admitted keeps its latency when
/// more arrives than the system can do.
public final class Admission: Sendable {
    public let limit: Int
    private let inFlight = Atomic<Int>(0)
    private let refusedCount = Atomic<Int>(0)

    public init(limit: Int) {
        self.limit = limit
    }

    public var current: Int { inFlight.load(ordering: .relaxed) }
    public var refused: Int { refusedCount.load(ordering: .relaxed) }

    /// Runs `work` if there is room, else throws the 503.
    public func admit<T>(_ work: () async throws -> T) async throws -> T {
        guard inFlight.add(1, ordering: .acquiring).newValue <= limit else {
            inFlight.subtract(1, ordering: .releasing)
            refusedCount.add(1, ordering: .relaxed)
            throw Self.overloaded
        }
        defer { inFlight.subtract(1, ordering: .releasing) }
        return try await work()
    }

    /// `503 overloaded` with `Retry-After: 1`.
    public static let overloaded = HTTPError(
        .serviceUnavailable,
        code: "overloaded",
        detail: "More checkouts are in progress than the system can take; try again in a moment.",
        headers: HTTPHeaders([("Retry-After", "1")])
    )
}
