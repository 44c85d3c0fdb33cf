/// What a server does with a request once its head has arrived, before it reads a byte of the body.
public enum HeadDecision: Sendable {
    /// Read the body, of at most `bodyLimit` bytes (nil: the server's limit; a larger value is capped by it).
    case proceed(bodyLimit: Int?)
    /// Answer with this response now, without reading the body, and close the connection.
    case refuse(Response)
}

/// Decides on a request from its head and its peer's address: authentication and per-route body
/// limits happen here, so a client without a key cannot make the server buffer a body.
public typealias HeadFilter = @Sendable (_ head: RequestHead, _ remoteAddress: String) -> HeadDecision
