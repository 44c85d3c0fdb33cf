import Contracts
import FoundationEssentials
import HTTP
import ServiceKit

/// Calls from the gateway to the services, with a service token for each audience.
/// A service that cannot be reached, or answers 5xx, becomes 503 `service_unavailable`; its 4xx problem
/// documents pass through unchanged.
struct Backends: Sendable {
    let runtime: ServiceRuntime
    let urls: [String: String]

    func call(
        _ service: String,
        _ method: String,
        _ path: String,
        body: [UInt8] = [],
        headers: HTTPHeaders = HTTPHeaders(),
        timeout: Duration? = nil
    )
        async throws -> Response
    {
        guard let base = urls[service] else { throw HTTPError.internal }
        var request = ClientRequest(method: method, url: base + path, headers: headers, body: body, timeout: timeout)
        if !body.isEmpty && request.headers["Content-Type"] == nil { request.headers.add(name: "Content-Type", value: "application/json") }
        for field in runtime.authenticator.authorization(for: service).fields {
            request.headers.replaceOrAdd(name: field.name, value: field.value)
        }
        // The person the request acts for, for the services' audit trails (believed from the gateway only).
        if let principal = Principal.current { request.headers.replaceOrAdd(name: "X-Actor", value: principal.actor) }
        // The client's read-your-writes token goes to every service its request reads from.
        if let token = ConsistencyTokens.current { request.headers.replaceOrAdd(name: ConsistentReads.header, value: token) }
        let response: Response
        do {
            response = try await runtime.client.execute(request)
        } catch {
            runtime.logger.warning("backend unreachable", metadata: ["backend": "\(service)", "error": "\(error)"])
            // An open breaker says when it will try again; otherwise a second is a fair guess.
            let retryAfter = (error as? HTTPClientError)?.retryAfterSeconds ?? 1
            throw Self.unavailable(service, retryAfter: retryAfter)
        }
        if response.status.code >= 500 {
            throw Self.unavailable(service, retryAfter: Int(response.headers["Retry-After"] ?? "") ?? 1)
        }
        return response
    }

    /// 503 with `Retry-After`: a client is told when to try again, and is told at once.
    static func unavailable(_ service: String, retryAfter: Int) -> HTTPError {
        HTTPError(
            .serviceUnavailable,
            code: "service_unavailable",
            detail: "The \(service) service is unavailable.",
            headers: HTTPHeaders([("Retry-After", "\(retryAfter)")])
        )
    }

    /// Calls and decodes a 2xx answer; a 4xx answer is thrown on as it came.
    func fetch<T: Decodable>(_ type: T.Type, _ service: String, _ path: String) async throws -> T {
        let response = try await call(service, "GET", path)
        guard (200..<300).contains(response.status.code) else { throw PassThrough(response: response) }
        return try response.decode(type)
    }

    /// A backend's 4xx answer, returned to the client as it is.
    struct PassThrough: Error {
        let response: Response
    }
}
