import HTTP
import ServiceKit
import Synchronization
import Testing

/// Admission control: work beyond the limit is refused at once, and room comes back as work ends.
@Suite("Admission control")
struct AdmissionTests {
    @Test func beyondTheLimitWorkIsRefusedAtOnceAndRoomComesBack() async throws {
        let admission = Admission(limit: 2)
        let gate = AsyncStream.makeStream(of: Void.self)
        let started = AsyncStream.makeStream(of: Void.self)
        async let first: Void = admission.admit {
            started.continuation.yield()
            for await _ in gate.stream { break }
        }
        async let second: Void = admission.admit {
            started.continuation.yield()
            for await _ in gate.stream { break }
        }
        var iterator = started.stream.makeAsyncIterator()
        _ = await iterator.next()
        _ = await iterator.next()
        #expect(admission.current == 2)
        do {
            try await admission.admit {}
            Issue.record("a third unit of work was admitted")
        } catch let error as HTTPError {
            #expect(error.status.code == 503)
            #expect(error.code == "overloaded")
            #expect(error.headers["Retry-After"] == "1")
        }
        #expect(admission.refused == 1)
        gate.continuation.finish()
        _ = try await (first, second)
        #expect(admission.current == 0)
        try await admission.admit {}
        #expect(admission.refused == 1)
    }
}
