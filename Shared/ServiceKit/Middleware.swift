import Contracts
import CoreMetrics
import FoundationEssentials
import HTTP
import Logging
import Storage
import Synchronization

/// The middleware every service runs (`standard`), and its error mapping alone for chains built by hand.
public enum ServiceMiddleware {
    /// Turns errors into responses (`problem(for:request:logger:)`): an `HTTPError` into its problem
    /// document, a failed dependency into 503, anything else into a generic 500 whose detail goes to the log only.
    public static func errors(logger: Logger) -> Middleware {
        { request, next in
            do {
                return try await next(request)
            } catch {
                return problem(for: error, request: request, logger: logger)
            }
        }
    }

    /// What every service runs: sets `RequestContext` (its `X-Request-ID` or a new one, a child span of the
    /// incoming `traceparent` or a new trace, the deadline from `X-Deadline-Ms`), counts requests by method,
    /// route pattern and status (`http_requests_total`) and times them (`http_request_duration_seconds`),
    /// maps errors as `errors` does (before counting, so a thrown error counts as its 500), and echoes the
    /// request id and this service's `traceparent` on the response. One frame around `next` rather than
    /// three closures deep: each level of an async chain is allocated per request.
    public static func standard(
        router: Router,
        factory: MetricsFactory,
        logger: Logger,
        maxDeadline: Duration = .seconds(60)
    ) -> Middleware {
        let handles = MetricHandles(factory: factory)
        return { request, next in
            let context = RequestContext.of(request, maxDeadline: maxDeadline)
            var request = request
            var response = await RequestContext.$current.withValue(context) {
                let start = ContinuousClock.now
                router.resolve(&request)
                let response: Response
                do {
                    response = try await next(request)
                } catch {
                    response = problem(for: error, request: request, logger: logger)
                }
                handles.record(request, response.status.code, since: start)
                return response
            }
            context.stamp(&response)
            return response
        }
    }

    /// The response for an error a handler threw: an `HTTPError` as its problem document, a failed
    /// dependency or a database that is unreachable as 503, anything else as a generic 500 whose detail goes to the log only.
    static func problem(for error: any Error, request: Request, logger: Logger) -> Response {
        switch error {
        case let error as HTTPError:
            return error.response
        case let fault as Faults.Injected:
            return fault.response
        case let error as HTTPClientError where error.kind != .invalidURL && error.kind != .responseTooLarge:
            // A service this one needs did not answer (or its breaker is open): 503, never a 500.
            logger.warning("a dependency failed", metadata: ["http.path": "\(request.path)", "error": "\(error)"])
            return unavailable("A service this request needs is unavailable; try again shortly.", retryAfter: error.retryAfterSeconds)
        case let error as DatabaseError where [.connectionLost, .timeout, .closed].contains(error.code):
            // This service's own database is down, restarting, or too busy to take the job in time: not the
            // client's fault and worth another try (writes carry Idempotency-Keys), so 503 as for a failed
            // dependency, never a 500.
            logger.warning("the database failed", metadata: ["http.path": "\(request.path)", "error": "\(error)"])
            return unavailable("This service's database is unavailable; try again shortly.", retryAfter: 1)
        default:
            logger.error(
                "request failed",
                metadata: ["http.method": "\(request.method)", "http.path": "\(request.path)", "error": "\(String(reflecting: error))"]
            )
            return HTTPError.internal.response
        }
    }
}

/// 503 `service_unavailable` with `Retry-After`.
private func unavailable(_ detail: String, retryAfter seconds: Int) -> Response {
    HTTPError(.serviceUnavailable, code: "service_unavailable", detail: detail, headers: HTTPHeaders([("Retry-After", "\(seconds)")]))
        .response
}

extension RequestContext {
    /// The context of an incoming request: its `X-Request-ID` (or a new one), a child span of its
    /// `traceparent` (or a new trace), and the deadline from `X-Deadline-Ms` (at most `maxDeadline`).
    static func of(_ request: Request, maxDeadline: Duration) -> RequestContext {
        let incomingID = request.headers["X-Request-ID"]
        let requestID =
            incomingID.flatMap { id in
                id.count <= 128 && id.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F } ? id : nil
            } ?? UUIDv7.string()
        let now = ContinuousClock.now
        var deadline = now + maxDeadline
        if let text = request.headers["X-Deadline-Ms"], let millis = Int64(text), millis > 0 {
            deadline = min(deadline, now + .milliseconds(millis))
        }
        let traceparent = TraceContext.traceparent(continuing: request.headers["traceparent"])
        return RequestContext(requestID: requestID, traceparent: traceparent, deadline: deadline)
    }

    /// Echoes the request id and this service's `traceparent` on the response.
    func stamp(_ response: inout Response) {
        response.headers.reserveCapacity(response.headers.count + 2)
        response.headers.replaceOrAdd(name: "X-Request-ID", value: requestID)
        if let traceparent { response.headers.replaceOrAdd(name: "traceparent", value: traceparent) }
    }
}

/// The counter and timer of each (method, route, status), made once: building labels per request was a
/// measurable cost.
private final class MetricHandles: Sendable {
    private struct Key: Hashable {
        let method: String
        let route: String
        let status: Int
    }

    private let factory: MetricsFactory
    private let cache = Mutex<[Key: (Counter, CoreMetrics.Timer)]>([:])

    init(factory: MetricsFactory) {
        self.factory = factory
    }

    /// Counts `request` (resolved by the router) with its status and records its time since `start`.
    func record(_ request: Request, _ status: Int, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let method: String
        switch request.method {
        case "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS": method = request.method
        default: method = "other"
        }
        let (counter, timer) = get(method: method, route: request.resolution?.pattern ?? "unmatched", status: status)
        counter.increment()
        timer.recordInterval(elapsed)
    }

    func get(method: String, route: String, status: Int) -> (Counter, CoreMetrics.Timer) {
        let key = Key(method: method, route: route, status: status)
        if let found = cache.withLock({ $0[key] }) { return found }
        let made = (
            Counter(
                label: "http_requests_total",
                dimensions: [("method", method), ("route", route), ("status", String(status))],
                factory: factory
            ),
            CoreMetrics.Timer(label: "http_request_duration_seconds", dimensions: [("method", method), ("route", route)], factory: factory)
        )
        cache.withLock { $0[key] = made }
        return made
    }
}

extension CoreMetrics.Timer {
    func recordInterval(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
