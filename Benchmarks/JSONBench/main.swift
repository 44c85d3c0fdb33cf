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

/// Times `foundation` against `ours`, `command.count` times each, and prints one line of microseconds per
/// message, messages per second and the ratio.
func compare(_ name: String, bytes: Int, _ foundationName: String, _ foundation: () throws -> Void, _ oursName: String, _ ours: () throws -> Void) rethrows {
    func micros(_ run: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        for _ in 0..<command.count { try run() }
        let duration = ContinuousClock.now - start
        return (Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12) / Double(command.count)
    }
    let theirs = try micros(foundation)
    let mine = try micros(ours)
    let line = String(
        format: "  %@ %5d B   %@ %7.2f us (%7.0f/s)   %@ %7.2f us (%7.0f/s)   %.2fx",
        name.padding(toLength: 20, withPad: " ", startingAt: 0) as NSString, bytes, foundationName as NSString, theirs, 1e6 / theirs,
        oursName as NSString, mine, 1e6 / mine, theirs / mine
    )
    print(line)
}

func measure(_ name: String, _ value: some Encodable) throws {
    let encoder = JSON.encoder()
    guard let written = try JSONWriter.encode(value), written == Array(try encoder.encode(value)) else {
        throw ValidationError("\(name): JSONWriter does not write what JSONEncoder writes")
    }
    var bytes = 0
    try compare(
        name, bytes: written.count, "JSONEncoder", { bytes &+= try encoder.encode(value).count },
        "JSONWriter", { bytes &+= try JSONWriter.encode(value)?.count ?? 0 })
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
    try compare(
        name, bytes: text.count, "JSONDecoder", { _ = try JSON.decoder().decode(T.self, from: Data(text)) },
        "JSONReader", { _ = try JSONReader.decode(T.self, from: text) })
}

print("JSON text of the checkout's messages, \(command.count) of each, one core")
try measure("saga checkout view", checkout)
try measure("order view", order)
try measure("order create", create)
print("Reading them back")
try measureDecoding("saga checkout view", checkout)
try measureDecoding("order view", order)
try measureDecoding("order create", create)
