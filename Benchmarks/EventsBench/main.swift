import ArgumentParser
import Foundation
import HTTP
import Logging
import Messaging
import ServiceKit
import Storage
import Synchronization

/// make bench-events: the delay from a committed change (an outbox append) to its effect in a consumer
/// (the consumer's transaction that applies it), through the real feed endpoint and consumer, on SQLite
/// files with synchronous=FULL.
struct EventsBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events-bench",
        abstract: "The delay from a committed change to its effect in a feed consumer: p50, p99 (make bench-events)."
    )

    @Option(help: "Changes committed per second.")
    var rate = 50

    @Option(help: "Seconds to run.")
    var duration = 10

    func validate() throws {
        guard rate > 0, duration > 0 else { throw ValidationError("--rate and --duration must be positive.") }
    }
}

let command = EventsBenchCommand.parseOrExit()
let rate = command.rate
let duration = command.duration

struct Tick: Codable { let n: Int }

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("events-bench-\(UUID().uuidString)").path
let producer = try SQLiteDatabase(path: folder + "/producer.db")
let consumerDB = try SQLiteDatabase(path: folder + "/consumer.db")
try await producer.write { try $0.executeScript(Outbox.tableSQL(.sqlite)) }
try await consumerDB.write {
    try $0.executeScript(FeedConsumer.tablesSQL(.sqlite))
    try $0.executeScript("CREATE TABLE effects (n INTEGER PRIMARY KEY) STRICT")
}
var router = Router()
EventFeed(database: producer).mount(on: &router)
let server = HTTPServer(
    configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
    logger: Logger(label: "bench"),
    responder: router.responder
)
try server.start()

let delays = Mutex<[Double]>([])
var silent = Logger(label: "bench")
silent.logLevel = .error
let consumer = FeedConsumer(
    name: "bench",
    feedURL: "http://127.0.0.1:\(server.port)/v1/events",
    database: consumerDB,
    client: HTTPClient(),
    logger: silent,
    metrics: PrometheusRegistry(),
    handler: { connection, event in
        try connection.execute("INSERT INTO effects (n) VALUES ($1)", try event.decode(Tick.self).n)
        let delay = Date().timeIntervalSince(event.occurredAt) * 1000
        delays.withLock { $0.append(delay) }
    }
)
let consuming = Task { try await consumer.run() }
let total = rate * duration
let interval = Duration.nanoseconds(1_000_000_000 / Int64(rate))
let start = ContinuousClock.now
for n in 0..<total {
    try await producer.write { try Outbox.append($0, type: "bench.tick", aggregateId: "t", data: Tick(n: n)) }
    let next = start + interval * (n + 1)
    if next > ContinuousClock.now { try await Task.sleep(until: next) }
}
while delays.withLock({ $0.count }) < total && ContinuousClock.now < start + .seconds(duration + 10) {
    try await Task.sleep(for: .milliseconds(10))
}
consuming.cancel()
let sorted = delays.withLock { $0 }.sorted()
func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
print("events: \(sorted.count) of \(total) applied, \(rate)/s for \(duration) s (SQLite, synchronous=FULL, feed long poll)")
print(String(format: "commit-to-effect delay ms: p50 %.1f  p99 %.1f  max %.1f", percentile(0.5), percentile(0.99), sorted.last ?? 0))
await server.shutdown(gracePeriod: .zero)
await producer.close()
await consumerDB.close()
try? FileManager.default.removeItem(atPath: folder)
