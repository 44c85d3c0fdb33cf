import Platform

/// When the SQLite writer waits a moment for more writes before it begins a group commit.
///
/// Group commit on its own gathers the writes that queued while the previous commit ran. Under steady load
/// that is one to three: `make bench-checkout` (32 clients, two cores) committed 3.5 times per checkout for
/// 12.7 write transactions, each commit a WAL write and an fsync. Waiting `length` before a transaction of
/// fewer than `fill` writes lets more of them share a commit (figures in the commit that added this), but
/// only while there is load to gather: transactions have held `together` writes or more on average (several
/// callers write at once) and writes arrive faster than one per `busyGap`. A single client's writes, and a
/// lone write on a quiet database, never wait.
///
/// Touched only by the writer thread.
struct CommitWindow {
    /// How long the writer waits; zero turns the window off.
    let length: Duration
    /// The writer waits only while fewer writes than this are queued.
    let fill: Int
    /// The writer waits only while its transactions have held at least this many writes on average: writes
    /// come from several callers at once. One caller's writes one after the other (a single client) would
    /// only be delayed.
    let together: Double
    /// The writer waits only while the average gap between arriving writes is shorter than this.
    let busyGap: Duration
    /// Exponentially weighted moving averages over the transactions taken: writes in each, and the gap
    /// between arriving writes in seconds (nil until the second transaction).
    private(set) var averageBatch = 1.0
    private(set) var averageGap: Double?
    private var lastBatch: ContinuousClock.Instant?

    init(length: Duration, fill: Int = 4, together: Double = 1.25, busyGap: Duration = .milliseconds(5)) {
        self.length = length
        self.fill = fill
        self.together = together
        self.busyGap = busyGap
    }

    /// How long to wait before taking `queued` writes as the next transaction, if at all.
    func pause(queued: Int) -> Duration? {
        guard length > .zero, queued < fill, averageBatch >= together, let averageGap, averageGap < busyGap.seconds
        else { return nil }
        return length
    }

    /// The writer took `count` writes as a transaction at `now`.
    mutating func took(_ count: Int, at now: ContinuousClock.Instant) {
        defer { lastBatch = now }
        guard count > 0 else { return }
        averageBatch = 0.75 * averageBatch + 0.25 * Double(count)
        guard let lastBatch else { return }
        // A long pause counts as ten gaps' worth at most, so that a burst after a quiet minute is seen as busy
        // within a few transactions; one such pause is enough to stop the waiting.
        let gap = min((now - lastBatch).seconds / Double(count), 10 * busyGap.seconds)
        averageGap = averageGap.map { 0.75 * $0 + 0.25 * gap } ?? gap
    }
}
