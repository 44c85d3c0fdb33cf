import FoundationEssentials
import Synchronization

/// A PostgreSQL primary with a hot standby that streams from it, for reads that may be a little stale
/// (catalog lists, order history, saga lists, the auditor's feeds), with read-your-writes by commit position.
///
/// - A write's caller hands its client the primary's WAL position after the write (`position()`, a
///   consistency token such as `0/3000148`); a read that carries it runs on the standby only once the standby
///   has replayed that far (`pg_last_wal_replay_lsn()`), waiting at most `tokenWait`, else on the primary.
/// - A read without a token runs on the standby when it is up and no further behind than `maxLag`, else on the
///   primary: a standby that is down or late costs a fallback, never an error.
/// - A standby that fails a read is left alone for `retryAfter` (reads go to the primary meanwhile).
///
/// https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-RECOVERY-INFO-TABLE
public final class ReadReplica: Sendable {
    /// Where a read ran.
    public enum Target: String, Sendable {
        case primary
        case replica
    }

    public let primary: any Database
    public let replica: any Database
    let maxLag: TimeInterval
    let tokenWait: Duration
    let retryAfter: Duration
    let onRead: @Sendable (Target) -> Void
    let onLag: @Sendable (Double) -> Void
    private let downUntil = Mutex<ContinuousClock.Instant?>(nil)

    public init(
        primary: any Database,
        replica: any Database,
        maxLag: TimeInterval = 5,
        tokenWait: Duration = .milliseconds(500),
        retryAfter: Duration = .seconds(5),
        onRead: @escaping @Sendable (Target) -> Void = { _ in },
        onLag: @escaping @Sendable (Double) -> Void = { _ in }
    ) {
        self.primary = primary
        self.replica = replica
        self.maxLag = maxLag
        self.tokenWait = tokenWait
        self.retryAfter = retryAfter
        self.onRead = onRead
        self.onLag = onLag
    }

    /// The primary's WAL position now: at or past the commit of every write that has returned.
    public func position() async throws -> String {
        try await primary.read { try $0.query("SELECT pg_current_wal_lsn()::text AS lsn", [])[0].decode("lsn") }
    }

    /// Whether a text is a WAL position (`X/Y` in hexadecimal), so a client's token never reaches SQL unchecked.
    public static func isPosition(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { (1...8).contains($0.count) && $0.allSatisfy(\.isHexDigit) }
    }

    /// Runs a read on the standby when it may (see the type's notes), else on the primary; returns where it ran.
    public func read<T: Sendable>(
        after token: String? = nil,
        _ body: @escaping @Sendable (DatabaseConnection) throws -> T
    ) async throws -> (T, Target) {
        let token = token.flatMap { Self.isPosition($0) ? $0 : nil }
        if await replicaMayServe(after: token) {
            do {
                let value = try await replica.read(body)
                onRead(.replica)
                return (value, .replica)
            } catch {
                // A standby that went away, or cancelled the query for a conflict with recovery: the primary
                // answers instead (a read that fails on its own merits fails there too).
                markDown()
            }
        }
        let value = try await primary.read(body)
        onRead(.primary)
        return (value, .primary)
    }

    /// Whether the standby is up, replaying, within `maxLag`, and past `token` (waiting for it a bounded time).
    func replicaMayServe(after token: String?) async -> Bool {
        if let until = downUntil.withLock({ $0 }), ContinuousClock.now < until { return false }
        let deadline = ContinuousClock.now + tokenWait
        while true {
            let state: (lag: Double, caughtUp: Bool)
            do {
                state = try await replica.read { connection in
                    // On a standby: how long ago the last replayed transaction committed, whether everything
                    // received is replayed while the receiver streams, and whether the token is replayed.
                    let row = try connection.query(
                        """
                        SELECT pg_is_in_recovery() AS standby,
                            COALESCE(EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())), 0)::float8 AS lag,
                            (pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
                                AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')) AS idle,
                            ($1 = '' OR pg_last_wal_replay_lsn() >= $1::pg_lsn) AS past_token
                        """,
                        [.text(token ?? "")]
                    )[0]
                    guard try row.decode("standby", as: Bool.self) else { return (Double.infinity, false) }
                    let lag = try row.decode("idle", as: Bool.self) ? 0 : try row.decode("lag", as: Double.self)
                    return (lag, try row.decode("past_token", as: Bool.self))
                }
            } catch {
                markDown()
                return false
            }
            onLag(state.lag.isFinite ? state.lag : -1)
            guard state.lag <= maxLag else { return false }
            if state.caughtUp { return true }
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func markDown() {
        let until = ContinuousClock.now + retryAfter
        downUntil.withLock { $0 = until }
    }
}
