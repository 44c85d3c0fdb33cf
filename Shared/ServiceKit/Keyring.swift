import Contracts
import Crypto
import FoundationEssentials
import Platform

/// A service's data keys for encryption at rest (AES-256-GCM), and its key for equality indexes
/// (HMAC-SHA256).
///
/// - `ENCRYPTION_KEYS=kid:base64,...` (or `ENCRYPTION_KEYS_FILE`, a mounted file holding the same text):
///   32-byte keys, each named by a key id. `ENCRYPTION_ACTIVE_KEY` (or `ENCRYPTION_ACTIVE_KEY_FILE`) names
///   the one new values are sealed with (required when there are several). Older keys stay listed until `rotate-keys` has re-sealed
///   every value under them.
/// - `INDEX_KEY` (or `INDEX_KEY_FILE`): 32 bytes, base64, for values looked up by equality (a payment
///   token) and for request fingerprints. It does not rotate with the data keys: an index must keep
///   matching.
///
/// A sealed value is text: `enc:v1:<kid>:<base64url(nonce | ciphertext | tag)>`, with a context (the table
/// and column) as associated data, so a ciphertext copied into another column does not open. Values
/// without the prefix are clear text written before encryption existed; `open` passes them through and
/// `rotate-keys` seals them.
public struct Keyring: Sendable {
    public let activeKeyID: String
    /// The data keys by key id, made once (swift-crypto 4's `SymmetricKey` is `Sendable`; one made per
    /// seal or open cost an allocation and a copy of the key each time).
    private let keys: [String: SymmetricKey]
    /// The index key's HMAC with its key already absorbed, copied for each value (`HMAC(key:)` hashes the key's
    /// pads every time: 1.3-2 % of the payment and shipping services' CPU). A value type: a copy shares nothing
    /// another thread could change.
    private let indexMAC: HMAC<SHA256>

    public init(activeKeyID: String, keys: [String: Data], indexKey: Data) {
        precondition(keys[activeKeyID] != nil, "the active key must be one of the keys")
        precondition(keys.values.allSatisfy { $0.count == 32 } && indexKey.count == 32, "keys are 32 bytes")
        self.activeKeyID = activeKeyID
        self.keys = keys.mapValues { SymmetricKey(data: $0) }
        indexMAC = HMAC<SHA256>(key: SymmetricKey(data: indexKey))
    }

    /// Why a sealed value could not be opened.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Sealed with a key id this service was not given (a key dropped before rotation finished).
        case unknownKey(String)
        /// Not a well-formed sealed value, or it fails authentication (tampered, or another context).
        case corrupt

        public var description: String {
            switch self {
            case .unknownKey(let kid): return "sealed with key \(kid), which ENCRYPTION_KEYS does not hold"
            case .corrupt: return "a sealed value does not authenticate"
            }
        }
    }

    static let prefix = "enc:v1:"

    /// The keys a service named `service` runs with, from its environment. In development, missing keys
    /// default to fixed development keys (refused outside development, like every published secret).
    public init(environment: Environment, service: String) throws {
        let deployment = try environment.deployment()
        var text = try Self.setting(environment, "ENCRYPTION_KEYS")
        if text == nil && deployment == .development { text = "dev:" + Self.developmentKey("data", service) }
        guard let text else { throw ConfigError(variable: "ENCRYPTION_KEYS", problem: "is required but not set") }
        var keys: [String: Data] = [:]
        var order: [String] = []
        for entry in text.split(whereSeparator: { $0 == "," || $0 == "\n" }) {
            let parts = entry.split(separator: ":", maxSplits: 1).map { $0.trimmingSpaces() }
            guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 32,
                parts[0].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
            else { throw ConfigError(variable: "ENCRYPTION_KEYS", problem: "must be a comma-separated list of kid:base64-key") }
            guard let key = Data(base64Encoded: parts[1]), key.count == 32 else {
                throw ConfigError(variable: "ENCRYPTION_KEYS", problem: "must hold 32-byte keys in base64 (key \(parts[0]))")
            }
            if deployment == .production && Self.isDevelopmentKey(parts[1]) {
                throw ConfigError(variable: "ENCRYPTION_KEYS", problem: "holds a development key; set real keys")
            }
            guard keys[parts[0]] == nil else { throw ConfigError(variable: "ENCRYPTION_KEYS", problem: "names key \(parts[0]) twice") }
            keys[parts[0]] = key
            order.append(parts[0])
        }
        guard !keys.isEmpty else { throw ConfigError(variable: "ENCRYPTION_KEYS", problem: "must hold at least one key") }
        let active = try Self.setting(environment, "ENCRYPTION_ACTIVE_KEY") ?? (keys.count == 1 ? order[0] : nil)
        guard let active else {
            throw ConfigError(variable: "ENCRYPTION_ACTIVE_KEY", problem: "must name the active key when there are several")
        }
        guard keys[active] != nil else {
            throw ConfigError(variable: "ENCRYPTION_ACTIVE_KEY", problem: "must be one of the key ids in ENCRYPTION_KEYS")
        }
        var index = try Self.setting(environment, "INDEX_KEY")
        if index == nil && deployment == .development { index = Self.developmentKey("index", service) }
        guard let index else { throw ConfigError(variable: "INDEX_KEY", problem: "is required but not set") }
        guard let indexBytes = Data(base64Encoded: index.trimmingWhitespace()), indexBytes.count == 32 else {
            throw ConfigError(variable: "INDEX_KEY", problem: "must be a 32-byte key in base64")
        }
        if deployment == .production && Self.isDevelopmentKey(index.trimmingWhitespace()) {
            throw ConfigError(variable: "INDEX_KEY", problem: "holds a development key; set a real key")
        }
        self.init(activeKeyID: active, keys: keys, indexKey: indexBytes)
    }

    /// The variable, or the contents of the file `<variable>_FILE` names (a mounted secret).
    private static func setting(_ environment: Environment, _ variable: String) throws -> String? {
        if let value = try environment.optional(variable, as: String.self) { return value }
        guard let path = try environment.optional(variable + "_FILE", as: String.self) else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(variable: variable + "_FILE", problem: "names a file that cannot be read")
        }
        let trimmed = text.trimmingWhitespace()
        return trimmed.isEmpty ? nil : trimmed
    }

    /// The development key of a purpose and service: fixed, so `make run` restarts read their own data.
    static func developmentKey(_ purpose: String, _ service: String) -> String {
        Data(SHA256.hash(data: Data("sagamart development \(purpose) key for \(service)".utf8))).base64EncodedString()
    }

    static func isDevelopmentKey(_ base64: String) -> Bool {
        ["gateway", "inventory", "order", "payment", "shipping", "saga"].contains { service in
            base64 == developmentKey("data", service) || base64 == developmentKey("index", service)
        }
    }

    // MARK: Sealing

    /// Seals `plaintext` under the active key, bound to `context`.
    public func seal(_ plaintext: String, context: String) -> String {
        // The nonce from the process's pool of kernel randomness: AES.GCM.Nonce() asks the kernel for 8 bytes
        // at a time, two system calls per sealed field (a shipment seals six).
        let nonce = try! AES.GCM.Nonce(data: SecureRandom.pooledBytes(12))
        let box = try! AES.GCM.seal(
            Data(plaintext.utf8),
            using: keys[activeKeyID]!,
            nonce: nonce,
            authenticating: Data(context.utf8)
        )
        return Self.prefix + activeKeyID + ":" + base64url(box.combined!)
    }

    /// Opens a sealed value; clear text written before encryption passes through unchanged.
    public func open(_ value: String, context: String) throws(Failure) -> String {
        guard value.hasPrefix(Self.prefix) else { return value }
        let rest = value.dropFirst(Self.prefix.count)
        guard let colon = rest.firstIndex(of: ":") else { throw .corrupt }
        let kid = String(rest[..<colon])
        guard let key = keys[kid] else { throw .unknownKey(kid) }
        guard let combined = decodeBase64url(String(rest[rest.index(after: colon)...])),
            let box = try? AES.GCM.SealedBox(combined: combined),
            let plain = try? AES.GCM.open(box, using: key, authenticating: Data(context.utf8))
        else { throw .corrupt }
        return String(decoding: plain, as: UTF8.self)
    }

    /// Whether a stored value is clear text or sealed under a key other than the active one.
    public func needsRotation(_ value: String) -> Bool {
        guard value.hasPrefix(Self.prefix) else { return true }
        return !value.dropFirst(Self.prefix.count).hasPrefix(activeKeyID + ":")
    }

    /// The key id a stored value is sealed with (nil: clear text).
    public static func keyID(of value: String) -> String? {
        guard value.hasPrefix(prefix) else { return nil }
        let rest = value.dropFirst(prefix.count)
        return rest.firstIndex(of: ":").map { String(rest[..<$0]) }
    }

    /// The value re-sealed under the active key, or nil when it already is.
    public func resealed(_ value: String, context: String) throws(Failure) -> String? {
        guard needsRotation(value) else { return nil }
        return seal(try open(value, context: context), context: context)
    }

    // MARK: Indexes

    /// A keyed equality index of `value` (hex HMAC-SHA256): the same value always gives the same index,
    /// and without the key an index cannot be matched against guesses.
    public func index(_ value: String, purpose: String) -> String {
        var mac = indexMAC
        mac.update(data: Data(purpose.utf8))
        mac.update(data: [0])
        mac.update(data: Data(value.utf8))
        return Hex.encode(Data(mac.finalize()))
    }
}
