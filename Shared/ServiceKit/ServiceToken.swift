import Crypto
import Foundation
import HTTP
import Synchronization

/// A signed token one service presents to another: who calls, for whom, until when.
///
/// Format: `base64url(JSON {sub, aud, exp})` `.` `base64url(HMAC-SHA256(secret, first part))`, sent as
/// `Authorization: Bearer <token>`. Verification is constant-time and checks audience and expiry.
public struct ServiceToken: Sendable, Equatable, Codable {
    /// The calling service (`saga`, `gateway`).
    public let caller: String
    /// The service the token is for (`payment`).
    public let audience: String
    /// Seconds since 1970 after which the token is refused.
    public let expiry: Int64

    enum CodingKeys: String, CodingKey {
        case caller = "sub"
        case audience = "aud"
        case expiry = "exp"
    }

    public init(caller: String, audience: String, expiry: Int64) {
        self.caller = caller
        self.audience = audience
        self.expiry = expiry
    }

    /// Why a token was refused (for logs; the client only sees 401).
    public enum Failure: Error, Sendable, Equatable {
        case malformed
        case badSignature
        case expired
        case wrongAudience
    }

    public func sign(secret: SymmetricKey) -> String {
        let payload = base64url(try! JSONEncoder().encode(self))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: secret)
        return payload + "." + base64url(Data(mac))
    }

    /// Checks signature, audience and expiry.
    public static func verify(_ token: String, secret: SymmetricKey, audience: String, now: Date = Date()) throws(Failure) -> ServiceToken {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let signature = decodeBase64url(String(parts[1])) else { throw .malformed }
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Data(parts[0].utf8), using: secret) else {
            throw .badSignature
        }
        guard let json = decodeBase64url(String(parts[0])), let token = try? JSONDecoder().decode(ServiceToken.self, from: json) else {
            throw .malformed
        }
        guard token.audience == audience else { throw .wrongAudience }
        guard Double(token.expiry) > now.timeIntervalSince1970 else { throw .expired }
        return token
    }
}

/// Signs tokens for outgoing calls and verifies those of incoming ones, with `SERVICE_SECRET`.
public struct ServiceAuthenticator: Sendable {
    public let service: String
    private let secret: Data
    private var key: SymmetricKey { SymmetricKey(data: secret) }
    public let lifetime: TimeInterval

    public init(service: String, secret: String, lifetime: TimeInterval = 60) {
        self.service = service
        self.secret = Data(secret.utf8)
        self.lifetime = lifetime
    }

    private let cache = TokenCache()

    /// A token for calling `audience`, reused until half its lifetime has passed (signing per call showed in profiles).
    public func token(for audience: String) -> String {
        let now = Date().timeIntervalSince1970
        if let cached = cache.issued(for: audience, now: now, minimumLeft: lifetime / 2) { return cached }
        let token = ServiceToken(caller: service, audience: audience, expiry: Int64(now + lifetime))
        let signed = token.sign(secret: key)
        cache.store(signed, token: token, for: audience)
        return signed
    }

    /// `Authorization` header for calling `audience`.
    public func authorization(for audience: String) -> HTTPHeaders {
        HTTPHeaders([("Authorization", "Bearer \(token(for: audience))")])
    }

    /// The calling service named by a valid token, or a `Failure`.
    public func verify(authorization: String?) throws(ServiceToken.Failure) -> ServiceToken {
        guard let authorization, authorization.hasPrefix("Bearer ") else { throw .malformed }
        let text = String(authorization.dropFirst(7))
        let now = Date()
        // A token already verified is trusted until its own expiry: the signature cannot have changed.
        if let known = cache.verified(text), Double(known.expiry) > now.timeIntervalSince1970 { return known }
        let token = try ServiceToken.verify(text, secret: key, audience: service, now: now)
        cache.remember(text, token)
        return token
    }

    /// Middleware answering 401 `unauthorized` to a request without a valid service token, except on
    /// the paths listed as public (health and metrics).
    public func middleware(publicPaths: Set<String> = ["/health/live", "/health/ready", "/metrics"]) -> Middleware {
        let authenticator = self
        return { request, next in
            if publicPaths.contains(request.path) { return try await next(request) }
            let token: ServiceToken
            do {
                token = try authenticator.verify(authorization: request.headers["Authorization"])
            } catch {
                throw HTTPError(
                    .unauthorized,
                    code: "unauthorized",
                    detail: "A valid service token is required.",
                    headers: HTTPHeaders([("WWW-Authenticate", "Bearer")])
                )
            }
            // Outside the catch: the handler's own errors must pass through unchanged.
            return try await CallerContext.$caller.withValue(token.caller) { try await next(request) }
        }
    }
}

/// Tokens this service signed (per audience) and tokens it verified (by their text), bounded in size.
final class TokenCache: Sendable {
    private struct State {
        var issued: [String: (text: String, expiry: Int64)] = [:]
        var verified: [String: ServiceToken] = [:]
    }

    private let state = Mutex(State())

    func issued(for audience: String, now: TimeInterval, minimumLeft: TimeInterval) -> String? {
        state.withLock { state in
            guard let entry = state.issued[audience], Double(entry.expiry) - now > minimumLeft else { return nil }
            return entry.text
        }
    }

    func store(_ text: String, token: ServiceToken, for audience: String) {
        state.withLock { $0.issued[audience] = (text, token.expiry) }
    }

    func verified(_ text: String) -> ServiceToken? {
        state.withLock { $0.verified[text] }
    }

    func remember(_ text: String, _ token: ServiceToken) {
        state.withLock { state in
            if state.verified.count >= 1024 { state.verified.removeAll(keepingCapacity: true) }
            state.verified[text] = token
        }
    }
}

/// The service that made the current request, once its token was verified.
public enum CallerContext {
    @TaskLocal public static var caller: String?
}

func base64url(_ data: Data) -> String {
    data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

func decodeBase64url(_ text: String) -> Data? {
    guard text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), text.allSatisfy(\.isASCII) else { return nil }
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64.append("=") }
    return Data(base64Encoded: base64)
}
