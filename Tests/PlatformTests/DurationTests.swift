import Platform
import Testing

@Suite("Durations in milliseconds")
struct DurationTests {
    @Test func wholeMillisecondsRoundTowardZeroOrUp() {
        #expect(Duration.seconds(10).wholeMilliseconds() == 10_000)
        #expect(Duration.milliseconds(1500).wholeMilliseconds(roundingUp: true) == 1500)
        #expect(Duration.nanoseconds(2_999_999).wholeMilliseconds() == 2)
        #expect(Duration.nanoseconds(2_999_999).wholeMilliseconds(roundingUp: true) == 3)
        #expect(Duration.nanoseconds(2_000_001).wholeMilliseconds(roundingUp: true) == 3)
        #expect((Duration.seconds(4) + .nanoseconds(1)).wholeMilliseconds(roundingUp: true) == 4001)
        #expect(Duration.zero.wholeMilliseconds(roundingUp: true) == 0)
    }
}
