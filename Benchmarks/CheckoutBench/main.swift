import Foundation
import HTTP
import Synchronization

/// Drives concurrent checkouts through the gateway for a fixed time and prints checkouts/s, latency
/// percentiles and errors. Usage: checkout-bench --gateway URL [--concurrency 32] [--duration 20] [--sku SKU] [--key KEY[,KEY...]]
/// (with several keys, worker n checks out as the customer of key n mod their count).
var options: [String: String] = [
    "--gateway": "http://127.0.0.1:8080", "--concurrency": "32", "--duration": "20", "--sku": "BENCH-001", "--key": "alice-dev-key",
]
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard options[flag] != nil, let value = arguments.popFirst() else {
        FileHandle.standardError.write(Data("unknown or incomplete option \(flag)\n".utf8))
        exit(2)
    }
    options[flag] = value
}
let gateway = options["--gateway"]!
let concurrency = max(1, Int(options["--concurrency"]!) ?? 32)
let duration = Duration.seconds(max(1, Int(options["--duration"]!) ?? 20))
let body = Array(
    """
    {"items":[{"sku":"\(options["--sku"]!)","quantity":1}],
     "payment":{"cardNumber":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"},
     "shipping":{"name":"Bench","line1":"1 Load St","city":"Berlin","postalCode":"10115","country":"DE"}}
    """.utf8
)
let keys = options["--key"]!.split(separator: ",").map(String.init)

struct Tally: Sendable {
    var latencies: [Double] = []
    /// Of the approved checkouts only: what the admitted work saw under overload.
    var admitted: [Double] = []
    var statuses: [Int: Int] = [:]
    var errors = 0
}

let client = HTTPClient(configuration: HTTPClientConfiguration(requestTimeout: .seconds(30)))
let started = ContinuousClock.now
let end = started + duration
let tallies = await withTaskGroup(of: Tally.self) { group in
    for worker in 0..<concurrency {
        group.addTask {
            var tally = Tally()
            let key = keys[worker % keys.count]
            var n = 0
            while ContinuousClock.now < end {
                n += 1
                let request = ClientRequest(
                    method: "POST",
                    url: "\(gateway)/v1/checkout",
                    headers: HTTPHeaders([
                        ("Authorization", "Bearer \(key)"), ("Content-Type", "application/json"),
                        ("Idempotency-Key", "bench-\(worker)-\(n)-\(UUID().uuidString)"),
                    ]),
                    body: body
                )
                let t0 = ContinuousClock.now
                do {
                    let response = try await client.execute(request)
                    let elapsed = ContinuousClock.now - t0
                    let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
                    tally.latencies.append(milliseconds)
                    tally.statuses[response.status.code, default: 0] += 1
                    if response.status.code == 201 { tally.admitted.append(milliseconds) }
                    if response.status.code == 503 {
                        // Refused at once (admission control): come back when told, as a real client would.
                        let seconds = min(Double(response.headers["Retry-After"] ?? "") ?? 0.2, 1)
                        try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                    }
                } catch {
                    tally.errors += 1
                }
            }
            return tally
        }
    }
    var all: [Tally] = []
    for await tally in group { all.append(tally) }
    return all
}
let elapsed = ContinuousClock.now - started
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let latencies = tallies.flatMap(\.latencies).sorted()
var statuses: [Int: Int] = [:]
for tally in tallies { statuses.merge(tally.statuses, uniquingKeysWith: +) }
let transportErrors = tallies.reduce(0) { $0 + $1.errors }
func percentile(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
let approved = statuses[201, default: 0]
let errors = transportErrors + statuses.filter { $0.key != 201 }.values.reduce(0, +)
print(String(format: "checkouts: %d approved in %.1f s with %d clients", approved, seconds, concurrency))
print(String(format: "checkouts/s: %.1f", Double(approved) / seconds))
print(
    String(
        format: "latency ms: p50 %.1f  p95 %.1f  p99 %.1f  max %.1f",
        percentile(0.50),
        percentile(0.95),
        percentile(0.99),
        latencies.last ?? 0
    )
)
let admitted = tallies.flatMap(\.admitted).sorted()
func admittedPercentile(_ p: Double) -> Double { admitted.isEmpty ? 0 : admitted[min(admitted.count - 1, Int(Double(admitted.count) * p))] }
print(String(format: "approved checkouts' latency ms: p50 %.1f  p99 %.1f", admittedPercentile(0.5), admittedPercentile(0.99)))
print("refused at once (503 overloaded or unavailable): \(statuses[503, default: 0])")
print("errors: \(errors) (statuses \(statuses.filter { $0.key != 201 }.sorted { $0.key < $1.key }), transport \(transportErrors))")
