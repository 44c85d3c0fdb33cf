import Synchronization

/// A fast generator for identifiers that need to be unique, not secret (request, trace and span ids,
/// UUIDv7 tails): xoshiro256** seeded once from the system generator. The system generator costs a
/// system call per value, which showed up as the top cost of a request in profiles.
public struct FastRandom: RandomNumberGenerator, Sendable {
    private static let shared = Mutex(FastRandom(seededFrom: SystemRandomNumberGenerator()))
    private var state: (UInt64, UInt64, UInt64, UInt64)

    private init(seededFrom seed: SystemRandomNumberGenerator) {
        var seed = seed
        state = (seed.next(), seed.next(), seed.next(), seed.next())
    }

    /// Draws from the process-wide generator.
    public init() {
        state = (0, 0, 0, 0)
    }

    public mutating func next() -> UInt64 {
        if state == (0, 0, 0, 0) { return FastRandom.shared.withLock { $0.step() } }
        return step()
    }

    private mutating func step() -> UInt64 {
        // xoshiro256** 1.0, https://prng.di.unimi.it/xoshiro256starstar.c
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
