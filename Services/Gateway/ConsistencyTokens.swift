import Contracts
import FoundationEssentials
import HTTP
import ServiceKit
import Synchronization

/// Read-your-writes across the gateway: the client's `X-Consistency-Token` is passed on to every service call
/// its request makes (`ConsistencyTokens.current`, set by `middleware()`), and a write through the gateway
/// (a checkout, a cancellation, a stock change) is answered with the written service's position after it,
/// merged into the token the client sent.
final class ConsistencyTokens: Sendable {
    @TaskLocal static var current: String?

    let backends: Backends
    /// Until when each service is known to have no standby (it answered 204): no need to ask it again.
    private let noStandbyUntil = Mutex<[String: ContinuousClock.Instant]>([:])

    init(backends: Backends) { self.backends = backends }

    /// Middleware: the request's token, for the service calls the handler makes.
    static func middleware() -> Middleware {
        { request, next in
            let token = request.headers[ConsistentReads.header].flatMap { $0.count <= 1000 ? $0 : nil }
            return try await ConsistencyTokens.$current.withValue(token) { try await next(request) }
        }
    }

    /// Adds `service`'s position after a write to a successful answer (the order service after a checkout or
    /// a cancellation, inventory after a stock change).
    func stamp(_ response: Response, from service: String = "order") async -> Response {
        guard (200..<300).contains(response.status.code) else { return response }
        if let until = noStandbyUntil.withLock({ $0[service] }), ContinuousClock.now < until { return response }
        guard let answer = try? await backends.call(service, "GET", "/v1/consistency-token") else { return response }
        guard answer.status.code == 200, let token = try? answer.decode([String: String].self)["token"] else {
            let until = ContinuousClock.now + .seconds(30)
            noStandbyUntil.withLock { $0[service] = until }
            return response
        }
        var stamped = response
        if let merged = ConsistentReads.merge([Self.current, token]) {
            stamped.headers.replaceOrAdd(name: ConsistentReads.header, value: merged)
        }
        return stamped
    }
}
