import FoundationEssentials

/// Reconciliation after a restore: a finished saga's effects sent again, so that every participant agrees
/// with the saga's log. Each command carries the idempotency key it had the first time, so a participant
/// that still holds the effect answers as before, and one restored from before it applies it now.
///
/// A completed saga sends the actions that succeeded; a compensated one the compensations that succeeded
/// (a compensation of an effect the participant never saw records a tombstone, so the actions need not be
/// repeated first). A failed saga is an operator's (`retry`), and a running one is resumed by the runner.
/// The commands are `SagaProgress.redriveCommands`.
public enum Redrive {
    /// How many times each step's action (`name:do`) or compensation (`name:undo`) succeeded on a timeline:
    /// more than once would be an effect applied twice.
    public static func successes(_ timeline: [SagaStepRecord]) -> [String: Int] {
        var counts: [String: Int] = [:]
        for record in timeline where record.status == .succeeded {
            counts["\(record.step):\(record.compensation ? "undo" : "do")", default: 0] += 1
        }
        return counts
    }
}
