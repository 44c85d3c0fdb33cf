import CoreMetrics
import FoundationEssentials
import Logging
import ServiceKit
import ServiceLifecycle
import Storage

/// Releases reservations whose hold ran out, so stock is never held forever by an abandoned saga. Each
/// round releases up to 100 in one transaction (each with its `inventory.reservation_expired` and
/// `product_changed` events in the outbox); `reservations_expired_total` counts them.
struct ReservationExpiry: Service {
    let database: any Database
    let interval: Duration
    let logger: Logger
    let metrics: PrometheusRegistry

    func run() async throws {
        try? await cancelWhenGracefulShutdown { await self.sweep() }
    }

    private func sweep() async {
        let expired = Counter(label: "reservations_expired_total", factory: metrics)
        while !Task.isCancelled {
            do {
                let ids = try await database.write { try InventoryStore.expireHolds($0, now: Date(), limit: 100) }
                if !ids.isEmpty {
                    expired.increment(by: ids.count)
                    logger.info("reservations expired", metadata: ["reservation.count": "\(ids.count)"])
                    continue
                }
            } catch {
                logger.warning("cannot expire reservations", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}
