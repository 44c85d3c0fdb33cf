/// What a request carries along every hop: its id, its W3C trace context and its deadline.
///
/// ServiceKit sets it for each incoming request (a task local), and `HTTPClient` reads it to forward
/// `X-Request-ID`, `traceparent` and the time left (`X-Deadline-Ms`) and to bound its own waits.
public struct RequestContext: Sendable {
    public var requestID: String
    /// The `traceparent` to send downstream: this service's span as the parent.
    public var traceparent: String?
    public var deadline: ContinuousClock.Instant?

    public init(requestID: String, traceparent: String? = nil, deadline: ContinuousClock.Instant? = nil) {
        self.requestID = requestID
        self.traceparent = traceparent
        self.deadline = deadline
    }

    /// The context of the request the current task serves, if any.
    @TaskLocal public static var current: RequestContext?
}
