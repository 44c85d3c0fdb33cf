import ArgumentParser
import Contracts
import Foundation
import HTTP
import Synchronization

/// `load`: checkouts through the gateway of a running system, by a number of clients each checking out one
/// after another (`--concurrency`) or at a fixed rate however long they take (`--rate`), with a progress line
/// every second and a summary at the end. `make load` runs it against `make run`'s system; `make
/// bench-checkout` uses it for its figures.
@main
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Checkouts through the SagaMart gateway at a rate or a concurrency, with live figures and a summary.",
        discussion: """
            Each checkout buys one unit of --sku with a test card and a fresh Idempotency-Key. A client that is \
            refused 503 with Retry-After waits as told (at most 1 s), as a real client would. The progress line \
            (every second, on standard error) shows the last second's checkouts/s, p50 and p99, the answers by \
            status and the checkouts in flight; the summary (standard output) covers the whole run.
            """
    )

    @Option(help: "The gateway's base URL.")
    var gateway = "http://127.0.0.1:8080"

    @Option(help: "Clients checking out one after another (closed loop). Ignored with --rate.")
    var concurrency = 32

    @Option(help: "Checkouts started per second whatever the answers' latency (open loop), instead of --concurrency.")
    var rate: Double?

    @Option(help: "With --rate: checkouts in flight at most; one more is counted as skipped, not sent.")
    var maxInFlight = 1024

    @Option(help: "How long to run, in seconds.")
    var duration = 20

    @Option(help: "The product to buy (make run's catalog has MUG-001, TEE-001 and STICKER-001).")
    var sku = "STICKER-001"

    @Option(help: "Customer API keys, comma-separated; client n (or checkout n with --rate) uses key n mod their count.")
    var key = "alice-dev-key"

    @Flag(inversion: .prefixedNo, help: "Print the progress line every second (on standard error).")
    var progress = true

    func validate() throws {
        guard concurrency >= 1, concurrency <= 10_000 else { throw ValidationError("--concurrency must be 1 to 10000.") }
        if let rate, !(rate > 0 && rate <= 100_000) { throw ValidationError("--rate must be above 0 and at most 100000.") }
        guard duration >= 1, duration <= 86_400 else { throw ValidationError("--duration must be 1 to 86400 seconds.") }
        guard maxInFlight >= 1 else { throw ValidationError("--max-in-flight must be at least 1.") }
        guard gateway.hasPrefix("http://") else { throw ValidationError("--gateway must be an http:// URL.") }
        guard !key.isEmpty else { throw ValidationError("--key needs at least one key.") }
    }

    func run() async throws {
        let driver = Driver(
            gateway: gateway,
            keys: key.split(separator: ",").map(String.init),
            body: Array(
                """
                {"items":[{"sku":\(JSONText.quote(sku)),"quantity":1}],
                 "payment":{"cardNumber":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"},
                 "shipping":{"name":"Load","line1":"1 Load St","city":"Berlin","postalCode":"10115","country":"DE"}}
                """.utf8
            )
        )
        let end = ContinuousClock.now + .seconds(duration)
        let reporter = Task {
            var second = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { break }
                second += 1
                let line = driver.tally.withLock { $0.takeWindow() }.line(
                    second: second,
                    inFlight: driver.inFlight.load(ordering: .relaxed)
                )
                if progress { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
        }
        let started = ContinuousClock.now
        if let rate {
            await driver.openLoop(rate: rate, maxInFlight: maxInFlight, until: end)
        } else {
            await driver.closedLoop(clients: concurrency, until: end)
        }
        reporter.cancel()
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let mode = rate.map { "at \(Figures.decimal($0)) checkouts/s started" } ?? "with \(concurrency) clients"
        print(driver.tally.withLock { $0 }.summary(seconds: seconds, mode: mode))
    }
}

/// What the clients share: the HTTP client, the request, and the tally.
final class Driver: Sendable {
    let gateway: String
    let keys: [String]
    let body: [UInt8]
    let client = HTTPClient(configuration: HTTPClientConfiguration(requestTimeout: .seconds(30)))
    let tally = Mutex(Tally())
    let inFlight = Atomic<Int>(0)
    /// Makes this run's Idempotency-Keys unlike any earlier run's; a key is this, the client and its count.
    /// One UUID per run: a UUID per checkout cost the load tool an open, a read and a close of /dev/urandom
    /// each, on the cores the services share.
    let run = UUID().uuidString

    init(gateway: String, keys: [String], body: [UInt8]) {
        self.gateway = gateway
        self.keys = keys
        self.body = body
    }

    /// `clients` clients, each checking out again as soon as it has its answer.
    func closedLoop(clients: Int, until end: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var n = 0
                    while ContinuousClock.now < end {
                        n += 1
                        await self.checkout(key: self.keys[client % self.keys.count], id: "\(client)-\(n)", honourRetryAfter: true)
                    }
                }
            }
        }
    }

    /// A checkout started every 1/rate s, whatever the answers' latency; past `maxInFlight` in flight one is
    /// skipped (counted) instead of sent.
    func openLoop(rate: Double, maxInFlight: Int, until end: ContinuousClock.Instant) async {
        let interval = Duration.nanoseconds(Int64(1e9 / rate))
        await withTaskGroup(of: Void.self) { group in
            var next = ContinuousClock.now
            var n = 0
            while next < end {
                try? await Task.sleep(until: next)
                n += 1
                if inFlight.load(ordering: .relaxed) >= maxInFlight {
                    tally.withLock { $0.skipped += 1 }
                } else {
                    let (key, id) = (keys[n % keys.count], "r-\(n)")
                    group.addTask { await self.checkout(key: key, id: id, honourRetryAfter: false) }
                }
                next += interval
            }
        }
    }

    private func checkout(key: String, id: String, honourRetryAfter: Bool) async {
        let request = ClientRequest(
            method: "POST",
            url: "\(gateway)/v1/checkout",
            headers: HTTPHeaders([
                ("Authorization", "Bearer \(key)"), ("Content-Type", "application/json"),
                ("Idempotency-Key", "load-\(run)-\(id)"),
            ]),
            body: body
        )
        inFlight.add(1, ordering: .relaxed)
        let t0 = ContinuousClock.now
        let response = try? await client.execute(request)
        let elapsed = ContinuousClock.now - t0
        inFlight.subtract(1, ordering: .relaxed)
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        tally.withLock { $0.record(status: response?.status.code, milliseconds: milliseconds) }
        if honourRetryAfter, let response, response.status.code == 503 {
            // Refused at once (admission control): come back when told, as a real client would.
            let seconds = min(Double(response.headers["Retry-After"] ?? "") ?? 0.2, 1)
            try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        }
    }
}

/// Answers by status, latencies (all, and of the approved checkouts), transport errors and skipped starts;
/// for the whole run and for the progress line's last second.
struct Tally: Sendable {
    var latencies: [Double] = []
    var approved: [Double] = []
    var statuses: [Int: Int] = [:]
    var transportErrors = 0
    var skipped = 0
    private var window = Window()

    struct Window: Sendable {
        var latencies: [Double] = []
        var statuses: [Int: Int] = [:]
        var transportErrors = 0

        func line(second: Int, inFlight: Int) -> String {
            let sorted = latencies.sorted()
            let answers =
                statuses.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }
                + (transportErrors > 0 ? ["transport:\(transportErrors)"] : [])
            return "\(second)s  checkouts/s \(statuses[201, default: 0])  p50 \(Figures.decimal(Figures.percentile(sorted, 0.5))) ms"
                + "  p99 \(Figures.decimal(Figures.percentile(sorted, 0.99))) ms  answers \(answers.isEmpty ? "none" : answers.joined(separator: " "))"
                + "  in flight \(inFlight)"
        }
    }

    mutating func record(status: Int?, milliseconds: Double) {
        guard let status else {
            transportErrors += 1
            window.transportErrors += 1
            return
        }
        latencies.append(milliseconds)
        statuses[status, default: 0] += 1
        window.latencies.append(milliseconds)
        window.statuses[status, default: 0] += 1
        if status == 201 { approved.append(milliseconds) }
    }

    /// The last second's figures, and a new window.
    mutating func takeWindow() -> Window {
        defer { window = Window() }
        return window
    }

    /// The summary `make bench-checkout` and its scripts read (keep the lines' beginnings).
    func summary(seconds: Double, mode: String) -> String {
        let all = latencies.sorted()
        let admitted = approved.sorted()
        let ok = statuses[201, default: 0]
        let others = statuses.filter { $0.key != 201 }.sorted { $0.key < $1.key }
        let errors = transportErrors + others.map(\.value).reduce(0, +)
        func ms(_ p: Double, _ values: [Double]) -> String { Figures.decimal(Figures.percentile(values, p)) }
        return [
            "checkouts: \(ok) approved in \(Figures.decimal(seconds)) s \(mode)",
            "checkouts/s: \(Figures.decimal(Double(ok) / max(seconds, 0.001)))",
            "latency ms: p50 \(ms(0.5, all))  p95 \(ms(0.95, all))  p99 \(ms(0.99, all))  max \(Figures.decimal(all.last ?? 0))",
            "approved checkouts' latency ms: p50 \(ms(0.5, admitted))  p99 \(ms(0.99, admitted))",
            "refused at once (503 overloaded or unavailable): \(statuses[503, default: 0])",
            "errors: \(errors) (statuses \(others.map { "\($0.key): \($0.value)" }.joined(separator: ", ")), transport \(transportErrors))"
                + (skipped > 0 ? "; skipped (over --max-in-flight): \(skipped)" : ""),
        ].joined(separator: "\n")
    }
}

enum Figures {
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    /// One decimal, without `String(format:)`.
    static func decimal(_ value: Double) -> String {
        let tenths = Int64((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}
