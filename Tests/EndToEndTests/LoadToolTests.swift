import Foundation
import HTTP
import TestSupport
import Testing

/// `load` (make load): checkouts against a running system at a rate or a concurrency, a progress line every
/// second, a summary at the end, and its options explained by --help and checked before it starts.
@Suite("The load command", .serialized)
struct LoadToolTests {
    func run(_ arguments: [String]) async throws -> (status: Int32?, output: String) {
        let process = try ChildProcess(productsDirectory + "/load", arguments, environment: ["PATH": "/usr/bin:/bin"])
        let status = await process.wait(timeout: .seconds(60))
        return (status, process.output)
    }

    @Test func atARateAndAtAConcurrencyItChecksOutAndReportsEverySecondAndAtTheEnd() async throws {
        let system = try await SharedSystem.shared.get(.sqlite)
        let sku = uniqueSKU("LOAD")
        try await system.createProduct(sku, stock: 10_000)
        let stockBefore = try await system.available(sku)

        let atRate = try await run(["--gateway", system.gateway, "--sku", sku, "--rate", "10", "--duration", "3", "--key", alice])
        #expect(atRate.status == 0, "\(atRate.output)")
        let approvedAtRate = try #require(Self.approved(atRate.output), "\(atRate.output)")
        // The tool's accounting, not the system's speed: 10 a second for 3 s are started, and each is either
        // approved or counted as an error by status. How many are approved is the system's business: a CI
        // run that starts its end-to-end suites together once answered 12 of the 30 with 503 after 8 s.
        let errorsAtRate = try #require(Self.count("errors: ", atRate.output), "\(atRate.output)")
        #expect((28...31).contains(approvedAtRate + errorsAtRate), "about 10 a second for 3 s: \(atRate.output)")
        #expect(approvedAtRate >= 1, "\(atRate.output)")
        #expect(atRate.output.contains("started"), "the summary names the mode")
        let progress = atRate.output.split(separator: "\n").filter { $0.contains("checkouts/s ") && $0.contains(" in flight ") }
        #expect(progress.count >= 2, "a progress line every second: \(atRate.output)")
        // Each line lists the second's answers by status (or none). Which statuses is the system's business:
        // on a loaded run a second's checkouts may all still be running when the gateway's wait ends (202).
        #expect(progress.allSatisfy(Self.listsAnswersByStatus), "\(progress)")

        let closed = try await run(["--gateway", system.gateway, "--sku", sku, "--concurrency", "2", "--duration", "2", "--no-progress"])
        #expect(closed.status == 0, "\(closed.output)")
        let approvedClosed = try #require(Self.approved(closed.output), "\(closed.output)")
        #expect(approvedClosed >= 1 && closed.output.contains("with 2 clients"))
        #expect(!closed.output.contains(" in flight "), "--no-progress prints the summary only")
        #expect(closed.output.contains("\nerrors: "), "the summary counts errors by status: \(closed.output)")

        // Every approved checkout took one unit, and nothing took more than one: on a loaded machine a
        // checkout the tool counted as an error (a 202 still running, a timeout) may finish later and take
        // its unit too, so the units taken lie between the approved and the approved plus the errors.
        let approved = approvedAtRate + approvedClosed
        let errors = (Self.count("errors: ", atRate.output) ?? 0) + (Self.count("errors: ", closed.output) ?? 0)
        let deadline = ContinuousClock.now + .seconds(20)
        var taken = stockBefore - (try await system.available(sku))
        while taken < approved, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            taken = stockBefore - (try await system.available(sku))
        }
        #expect(taken >= approved && taken <= approved + errors, "taken \(taken), approved \(approved), errors \(errors)")
    }

    @Test func helpExplainsEachOptionAndBadOptionsAreRefusedBeforeItStarts() async throws {
        let help = try await run(["--help"])
        #expect(help.status == 0)
        for option in ["--gateway", "--concurrency", "--rate", "--max-in-flight", "--duration", "--sku", "--key", "--no-progress"] {
            #expect(help.output.contains(option), "\(option) in --help")
        }
        for bad in [["--rate", "0"], ["--concurrency", "0"], ["--duration", "0"], ["--gateway", "ftp://x"], ["--frobnicate"]] {
            let refused = try await run(bad)
            #expect(refused.status == 64, "\(bad): \(refused.output)")
            #expect(refused.output.contains("Error:"), "\(bad): \(refused.output)")
        }
    }

    /// N of the summary's "checkouts: N approved".
    static func approved(_ output: String) -> Int? { count("checkouts: ", output) }

    /// The number after `prefix` at the start of a summary line.
    static func count(_ prefix: String, _ output: String) -> Int? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        return Int(line.dropFirst(prefix.count).prefix { $0.isNumber })
    }

    /// Whether a progress line's answers are `none` or a list of `status:count` (and `transport:count`).
    static func listsAnswersByStatus(_ line: Substring) -> Bool {
        guard let start = line.range(of: "  answers "), let end = line.range(of: "  in flight ") else { return false }
        let answers = line[start.upperBound..<end.lowerBound].split(separator: " ")
        if answers == ["none"] { return true }
        return !answers.isEmpty
            && answers.allSatisfy { answer in
                let parts = answer.split(separator: ":")
                guard parts.count == 2, Int(parts[1]) != nil else { return false }
                return parts[0] == "transport" || (parts[0].count == 3 && Int(parts[0]) != nil)
            }
    }
}
