import Crypto
import FoundationEssentials
import HTTP
import Platform
import Storage
import Synchronization

/// A signed token one service presents to another: who calls, for whom, until when.
///
/// Format: `base64url(JSON {sub, aud, exp})` `.` `base64url(Ed25519 signature of the first part)`, sent as
/// `Authorization: Bearer <token>`. Each service signs with its own private key; a receiver verifies with
/// the public key of the service the token names, so a service can speak only for itself: a compromised
/// shipping service cannot pass for the saga.
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

    /// The longest a token may live: a receiver refuses one that expires later than this from now.
    public static let maximumLifetime: TimeInterval = 60
    /// Clock difference between hosts that is tolerated on top.
    static let clockSkew: TimeInterval = 5

    /// Why a token was refused (for logs; the client only sees 401).
    public enum Failure: Error, Sendable, Equatable {
        case malformed
        case unknownCaller
        case badSignature
        case expired
        case lifetimeTooLong
        case wrongAudience
    }

    public func sign(with key: Curve25519.Signing.PrivateKey) -> String {
        let payload = base64url(try! JSONEncoder().encode(self))
        let signature = try! key.signature(for: Data(payload.utf8))
        return payload + "." + base64url(signature)
    }

    /// Checks signature (with the named caller's public key), audience, expiry and lifetime.
    public static func verify(
        _ token: String,
        publicKeys: [String: Data],
        audience: String,
        now: Date = Date()
    ) throws(Failure) -> ServiceToken {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let signature = decodeBase64url(String(parts[1])),
            let json = decodeBase64url(String(parts[0])), let claimed = try? JSON.decode(ServiceToken.self, from: Array(json))
        else { throw .malformed }
        guard let raw = publicKeys[claimed.caller], let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
            throw .unknownCaller
        }
        guard key.isValidSignature(signature, for: Data(parts[0].utf8)) else { throw .badSignature }
        guard claimed.audience == audience else { throw .wrongAudience }
        let seconds = now.timeIntervalSince1970
        guard Double(claimed.expiry) > seconds else { throw .expired }
        guard Double(claimed.expiry) <= seconds + maximumLifetime + clockSkew else { throw .lifetimeTooLong }
        return claimed
    }
}

/// Signs tokens for outgoing calls with this service's private key (`SERVICE_SIGNING_KEY`) and verifies
/// incoming ones with the callers' public keys (`SERVICE_KEYS=gateway:base64,saga:base64,...`).
public struct ServiceAuthenticator: Sendable {
    public let service: String
    private let signingKey: Data
    private let publicKeys: [String: Data]
    public let lifetime: TimeInterval

    public init(service: String, signingKey: Data, publicKeys: [String: Data], lifetime: TimeInterval = ServiceToken.maximumLifetime) {
        self.service = service
        self.signingKey = signingKey
        self.publicKeys = publicKeys
        self.lifetime = min(lifetime, ServiceToken.maximumLifetime)
    }

    /// The services and tools that call others, each with a key pair of its own.
    public static let callers = ["gateway", "inventory", "order", "payment", "shipping", "saga", "auditor"]

    /// The development key pair of `service` (fixed, so `make run` and the tests need no keys), and the
    /// authenticator that uses it with every caller's development public key. Refused in production.
    public static func development(service: String) -> ServiceAuthenticator {
        ServiceAuthenticator(
            service: service,
            signingKey: developmentKey(service).rawRepresentation,
            publicKeys: Dictionary(uniqueKeysWithValues: callers.map { ($0, developmentKey($0).publicKey.rawRepresentation) })
        )
    }

    static func developmentKey(_ service: String) -> Curve25519.Signing.PrivateKey {
        try! Curve25519.Signing.PrivateKey(
            rawRepresentation: SHA256.hash(data: Data("sagamart development signing key for \(service)".utf8))
        )
    }

    /// From the environment: `SERVICE_SIGNING_KEY` (base64 of a 32-byte Ed25519 private key) and
    /// `SERVICE_KEYS` (`name:base64-public-key,...`), or files named by `SERVICE_SIGNING_KEY_FILE` and
    /// `SERVICE_KEYS_FILE`. In development both default to the development keys.
    public init(environment: Environment, service: String) throws {
        let deployment = try environment.deployment()
        let development = Self.development(service: service)
        var signingKey = development.signingKey
        var publicKeys = development.publicKeys
        if let text = try environment.optional("SERVICE_SIGNING_KEY", as: String.self) ?? Self.file(environment, "SERVICE_SIGNING_KEY_FILE")
        {
            guard let raw = Data(base64Encoded: text), (try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)) != nil else {
                throw ConfigError(variable: "SERVICE_SIGNING_KEY", problem: "must be a 32-byte Ed25519 private key in base64")
            }
            signingKey = raw
        } else if deployment == .production {
            throw ConfigError(variable: "SERVICE_SIGNING_KEY", problem: "is required but not set")
        }
        if let text = try environment.optional("SERVICE_KEYS", as: String.self) ?? Self.file(environment, "SERVICE_KEYS_FILE") {
            publicKeys = [:]
            for entry in text.split(whereSeparator: { $0 == "," || $0 == "\n" }) {
                let parts = entry.split(separator: ":", maxSplits: 1).map { $0.trimmingSpaces() }
                guard parts.count == 2, let raw = Data(base64Encoded: parts[1]),
                    (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil
                else { throw ConfigError(variable: "SERVICE_KEYS", problem: "must be a comma-separated list of service:base64-public-key") }
                publicKeys[parts[0]] = raw
            }
        } else if deployment == .production {
            throw ConfigError(variable: "SERVICE_KEYS", problem: "is required but not set")
        }
        if deployment == .production {
            let developmentKeys = Set(Self.callers.map { Self.developmentKey($0).publicKey.rawRepresentation })
            let own = try Curve25519.Signing.PrivateKey(rawRepresentation: signingKey).publicKey.rawRepresentation
            if developmentKeys.contains(own) {
                throw ConfigError(variable: "SERVICE_SIGNING_KEY", problem: "holds a development key; set a key of this service's own")
            }
            if publicKeys.values.contains(where: developmentKeys.contains) {
                throw ConfigError(variable: "SERVICE_KEYS", problem: "holds a development key")
            }
        }
        self.init(service: service, signingKey: signingKey, publicKeys: publicKeys)
    }

    private static func file(_ environment: Environment, _ variable: String) throws -> String? {
        guard let path = try environment.optional(variable, as: String.self) else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(variable: variable, problem: "names a file that cannot be read")
        }
        return text.trimmingWhitespace()
    }

    /// This service's public key, to list in the others' `SERVICE_KEYS`.
    public var publicKey: Data { (try! Curve25519.Signing.PrivateKey(rawRepresentation: signingKey)).publicKey.rawRepresentation }

    private let cache = TokenCache()

    /// A token for calling `audience`, reused until half its lifetime has passed (signing per call showed in profiles).
    public func token(for audience: String) -> String {
        let now = Date().timeIntervalSince1970
        if let cached = cache.issued(for: audience, now: now, minimumLeft: lifetime / 2) { return cached }
        let token = ServiceToken(caller: service, audience: audience, expiry: Int64(now + lifetime))
        let signed = token.sign(with: try! Curve25519.Signing.PrivateKey(rawRepresentation: signingKey))
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
        let token = try ServiceToken.verify(text, publicKeys: publicKeys, audience: service, now: now)
        cache.remember(text, token)
        return token
    }

    /// Middleware answering 401 `unauthorized` to a request without a valid service token (except on the
    /// public paths: health, metrics and the OpenAPI document), and 403 `forbidden` to a caller the route's rule does not name.
    /// A route without a rule is refused to every caller: each must be declared (`ServiceAccess`).
    public func middleware(
        router: Router? = nil,
        access: ServiceAccess? = nil,
        publicPaths: Set<String> = ["/health/live", "/health/ready", "/metrics", "/v1/openapi.json"]
    ) -> Middleware {
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
            if let router, let access, let pattern = router.pattern(for: request) {
                let method = request.method == "HEAD" ? "GET" : request.method
                guard access.allows(token.caller, method: method, pattern: pattern) else {
                    throw HTTPError(.forbidden, code: "forbidden", detail: "This service may not call \(method) \(pattern).")
                }
            }
            let audit = AuditContext.forRequest(actor: AuditContext.actor(of: request, caller: token.caller))
            // Outside the catch: the handler's own errors must pass through unchanged.
            return try await CallerContext.$caller.withValue(token.caller) {
                try await AuditContext.$current.withValue(audit) { try await next(request) }
            }
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

/// Base64url without padding (RFC 4648 section 5), byte by byte: Foundation's `replacingOccurrences` made
/// it a tenth of the payment service's CPU once every stored card field was sealed.
func base64url(_ data: Data) -> String {
    var bytes = Array(data.base64EncodedData())
    while bytes.last == 0x3D { bytes.removeLast() }
    for index in bytes.indices {
        switch bytes[index] {
        case 0x2B: bytes[index] = 0x2D  // + -> -
        case 0x2F: bytes[index] = 0x5F  // / -> _
        default: break
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

func decodeBase64url(_ text: String) -> Data? {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count + 3)
    for byte in text.utf8 {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: bytes.append(byte)
        case 0x2D: bytes.append(0x2B)  // - -> +
        case 0x5F: bytes.append(0x2F)  // _ -> /
        default: return nil
        }
    }
    while bytes.count % 4 != 0 { bytes.append(0x3D) }
    return Data(base64Encoded: Data(bytes))
}

extension AuditContext {
    /// Callers whose `X-Actor` is believed: the gateway, which authenticated the person it names.
    public static let actorVouchers: Set<String> = ["gateway"]

    /// The person a request acts for: the `X-Actor` the gateway sends (`customer:alice`, `operator:ana`),
    /// else the calling service itself (`service:saga`).
    public static func actor(of request: Request, caller: String) -> String {
        if actorVouchers.contains(caller), let actor = request.headers["X-Actor"], isActor(actor) { return actor }
        return "service:\(caller)"
    }

    static func isActor(_ text: String) -> Bool {
        let parts = text.split(separator: ":", maxSplits: 1)
        return parts.count == 2 && ["customer", "operator"].contains(parts[0]) && (1...64).contains(parts[1].count)
            && parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._@-".contains($0)) }
    }

    /// The audit context of the request being served: `actor`, with its trace and request ids.
    public static func forRequest(actor: String) -> AuditContext {
        let context = RequestContext.current
        // This service's own `traceparent` (version 00, checked when made): the trace id is digits 3 to 35.
        var traceID = ""
        if let traceparent = context?.traceparent, traceparent.utf8.count == 55 {
            traceID = String(traceparent.utf8.dropFirst(3).prefix(32))!
        }
        return AuditContext(actor: actor, traceID: traceID, requestID: context?.requestID ?? "")
    }
}
