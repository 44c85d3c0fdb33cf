import HTTP
import Testing

/// Fault rules: their syntax, and that a seed replays the same faults.
@Suite("Fault injection rules")
struct FaultsTests {
    @Test func theSyntaxOfFAULTS() throws {
        let rules = try Faults.Rule.parse(
            "participant.before_commit@payment.capture:fail(503):p=0.5:n=3:seed=7, client.after_send:reset,saga.before_send:delay(1.5s),consumer.after_apply:crash"
        )
        #expect(
            rules == [
                Faults.Rule(
                    point: "participant.before_commit",
                    match: "payment.capture",
                    action: .fail(status: 503),
                    probability: 0.5,
                    count: 3,
                    seed: 7
                ),
                Faults.Rule(point: "client.after_send", action: .reset),
                Faults.Rule(point: "saga.before_send", action: .delay(milliseconds: 1500)),
                Faults.Rule(point: "consumer.after_apply", action: .crash),
            ]
        )
        #expect(try Faults.Rule.parse("") == [])
        #expect(
            try Faults.Rule.parse("participant.before_commit@c1:payment.capture:do:fail(409):n=1")
                == [Faults.Rule(point: "participant.before_commit", match: "c1:payment.capture:do", action: .fail(status: 409), count: 1)]
        )
        for bad in [
            "nowhere:crash", "saga.before_send", "saga.before_send:explode", "saga.before_send:fail(200)", "saga.before_send:crash:p=2",
            "saga.before_send:crash:n=0", "saga.before_send:crash:x=1", "saga.before_send:delay(forever)",
        ] {
            #expect(throws: FaultSpecError.self, "\(bad)") { try Faults.Rule.parse(bad) }
        }
    }

    @Test func nothingIsArmedUntilInjectionIsEnabled() async throws {
        let faults = Faults()
        #expect(throws: FaultSpecError.self) { try faults.set([Faults.Rule(point: "saga.before_send", action: .reset)]) }
        #expect(await faults.visit("saga.before_send", "x") == nil)
    }

    @Test func aSeedReplaysTheSameFaultsAndACountStopsThem() async throws {
        func pattern(seed: UInt64, visits: Int = 200) async throws -> [Bool] {
            let faults = Faults()
            faults.enable()
            try faults.set([Faults.Rule(point: "client.before_send", action: .fail(status: 503), probability: 0.3, seed: seed)])
            var fired: [Bool] = []
            for _ in 0..<visits { fired.append(await faults.visit("client.before_send", "GET /") != nil) }
            return fired
        }
        let first = try await pattern(seed: 42)
        #expect(try await pattern(seed: 42) == first)
        #expect(try await pattern(seed: 43) != first)
        let rate = Double(first.filter { $0 }.count) / Double(first.count)
        #expect(rate > 0.15 && rate < 0.45, "\(rate)")

        let faults = Faults()
        faults.enable()
        try faults.set([Faults.Rule(point: "server.before_handle", match: "POST /", action: .fail(status: 409), count: 2)])
        #expect(await faults.visit("server.before_handle", "GET /v1/x") == nil)
        var outcomes: [Faults.Outcome?] = []
        for _ in 0..<4 { outcomes.append(await faults.visit("server.before_handle", "POST /v1/x")) }
        #expect(outcomes == [.fail(status: 409), .fail(status: 409), nil, nil])
        #expect(faults.snapshot().fired == ["server.before_handle/fail": 2])
        try faults.set([])
        #expect(await faults.visit("server.before_handle", "POST /v1/x") == nil)
    }
}
