import ArgumentParser
import Contracts
import Foundation
import HTTP

/// `make bench-json`: the cost of the JSON text of the checkout's messages, `JSONEncoder` (as
/// `JSON.encoder()` sets it up) against `JSONWriter`, which `JSON.encode` uses, and reading them back,
/// `JSONDecoder` against `JSONReader`, which `JSON.decode` uses: microseconds per message and messages per
/// second, per message type, in one process (no network, no database).
struct JSONBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "json-bench",
        abstract: "JSONEncoder against JSONWriter on the checkout's messages (make bench-json)."
    )

    @Option(help: "Messages encoded per type and encoder.")
    var count = 20_000

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive.") }
    }
}

let command = JSONBenchCommand.parseOrExit()
let id = UUIDv7.string()
let timestamp = "2026-12-01T03:27:19.123Z"
let steps = ["order.create", "inventory.reserve", "payment.authorize", "shipping.schedule", "inventory.hold", "payment.capture", "inventory.commit", "order.approve"].map {
    SagaAPI.Step(name: $0, action: .action, status: .succeeded, attempts: 1, startedAt: timestamp, finishedAt: timestamp, error: nil)
}
let checkout = SagaAPI.Checkout(
    id: id, customerId: "alice", orderId: UUIDv7.string(), paymentId: UUIDv7.string(), shipmentId: UUIDv7.string(),
    status: .completed, failureCode: nil, failureDetail: nil, totalCents: 2_400, currency: "EUR", version: 3, steps: steps
)
let order = OrderAPI.Order(
    id: UUIDv7.string(), customerId: "alice", checkoutId: id, status: .approved, reason: nil,
    items: [OrderAPI.Line(sku: "BENCH-001", quantity: 2, unitPriceCents: 1_200)], totalCents: 2_400, currency: "EUR",
    payment: OrderAPI.Ref(id: UUIDv7.string(), status: "CAPTURED"), shipment: OrderAPI.Ref(id: UUIDv7.string(), status: "SCHEDULED"),
    version: 4, createdAt: timestamp, updatedAt: timestamp
)
let create = OrderAPI.Create(orderId: UUIDv7.string(), customerId: "alice", checkoutId: id, items: [Item(sku: "BENCH-001", quantity: 2)], screen: true)

func measure(_ name: String, _ value: some Encodable) throws {
    let encoder = JSON.encoder()
    guard let written = try JSONWriter.encode(value), written == Array(try encoder.encode(value)) else {
        throw ValidationError("\(name): JSONWriter does not write what JSONEncoder writes")
    }
    var bytes = 0
    var start = ContinuousClock.now
    for _ in 0..<command.count { bytes &+= try encoder.encode(value).count }
    let foundation = ContinuousClock.now - start
    start = .now
    for _ in 0..<command.count { bytes &+= try JSONWriter.encode(value)?.count ?? 0 }
    let writer = ContinuousClock.now - start
    func micros(_ duration: Duration) -> Double {
        (Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12) / Double(command.count)
    }
    let line = String(
        format: "  %@ %5d B   JSONEncoder %7.2f us (%7.0f/s)   JSONWriter %7.2f us (%7.0f/s)   %.2fx",
        name.padding(toLength: 20, withPad: " ", startingAt: 0) as NSString, written.count, micros(foundation), 1e6 / micros(foundation), micros(writer), 1e6 / micros(writer),
        micros(foundation) / micros(writer)
    )
    print(line)
    if bytes == 0 { print("nothing written") }
}

/// Reading `value`'s text back: `JSONDecoder` (a new one each time, as `JSON.decoder()` gives) against `JSONReader`.
func measureDecoding<T: Codable>(_ name: String, _ value: T) throws {
    let text = try JSON.encode(value)
    // Compared by their text written again (not every message type is Equatable).
    guard try JSON.encode(try JSONReader.decode(T.self, from: text)) == text,
        try JSON.encode(try JSON.decoder().decode(T.self, from: Data(text))) == text
    else {
        throw ValidationError("\(name): JSONReader does not read what JSONDecoder reads")
    }
    var start = ContinuousClock.now
    for _ in 0..<command.count { _ = try JSON.decoder().decode(T.self, from: Data(text)) }
    let foundation = ContinuousClock.now - start
    start = .now
    for _ in 0..<command.count { _ = try JSONReader.decode(T.self, from: text) }
    let reader = ContinuousClock.now - start
    func micros(_ duration: Duration) -> Double {
        (Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12) / Double(command.count)
    }
    let line = String(
        format: "  %@ %5d B   JSONDecoder %7.2f us (%7.0f/s)   JSONReader %7.2f us (%7.0f/s)   %.2fx",
        name.padding(toLength: 20, withPad: " ", startingAt: 0) as NSString, text.count, micros(foundation), 1e6 / micros(foundation), micros(reader), 1e6 / micros(reader),
        micros(foundation) / micros(reader)
    )
    print(line)
}

print("JSON text of the checkout's messages, \(command.count) of each, one core")
try measure("saga checkout view", checkout)
try measure("order view", order)
try measure("order create", create)
print("Reading them back")
try measureDecoding("saga checkout view", checkout)
try measureDecoding("order view", order)
try measureDecoding("order create", create)
