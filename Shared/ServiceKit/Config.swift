import FoundationEssentials
import Platform

/// A setting is missing or malformed. The message names the variable and what was expected, never the value
/// (it may be a secret).
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    public let variable: String
    public let problem: String

    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }

    public var description: String { "configuration error: \(variable) \(problem)" }
}

/// A value that can be parsed from an environment variable.
public protocol ConfigValue {
    static func parse(_ text: String) -> Self?
    static var expectation: String { get }
}

extension String: ConfigValue {
    public static func parse(_ text: String) -> String? { text }
    public static var expectation: String { "a string" }
}

extension Int: ConfigValue {
    public static func parse(_ text: String) -> Int? { Int(text.trimmingSpaces()) }
    public static var expectation: String { "an integer" }
}

extension Double: ConfigValue {
    public static func parse(_ text: String) -> Double? { Double(text.trimmingSpaces()) }
    public static var expectation: String { "a number" }
}

extension Bool: ConfigValue {
    public static func parse(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: return nil
        }
    }
    public static var expectation: String { "true or false" }
}

extension Duration: ConfigValue {
    /// `250ms`, `30s`, `2m`, or a bare number of seconds.
    public static func parse(_ text: String) -> Duration? {
        let t = text.trimmingSpaces().lowercased()
        if t.hasSuffix("ms"), let v = Double(t.dropLast(2)), v >= 0 { return .milliseconds(Int64(v)) }
        if t.hasSuffix("s"), let v = Double(t.dropLast()), v >= 0 { return .milliseconds(Int64(v * 1000)) }
        if t.hasSuffix("m"), let v = Double(t.dropLast()), v >= 0 { return .milliseconds(Int64(v * 60_000)) }
        if let v = Double(t), v >= 0 { return .milliseconds(Int64(v * 1000)) }
        return nil
    }
    public static var expectation: String { "a duration such as 250ms, 30s or 2m" }
}

/// Settings read from environment variables (12-factor), typed, with clear errors.
public struct Environment: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    /// The variable parsed as `T`, or `defaultValue` when unset or empty; a malformed value is an error.
    public func get<T: ConfigValue>(_ name: String, default defaultValue: T) throws -> T {
        try optional(name) ?? defaultValue
    }

    /// The variable parsed as `T`; unset is an error.
    public func require<T: ConfigValue>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let value: T = try optional(name) else { throw ConfigError(variable: name, problem: "is required but not set") }
        return value
    }

    /// The variable parsed as `T`, or nil when unset or empty.
    public func optional<T: ConfigValue>(_ name: String, as type: T.Type = T.self) throws -> T? {
        guard let text = values[name], !text.isEmpty else { return nil }
        guard let value = T.parse(text) else { throw ConfigError(variable: name, problem: "must be \(T.expectation)") }
        return value
    }

    /// A duration, or nil for `off`: a target that can be switched off (`CHECKOUT_LATENCY_TARGET=off`).
    public func latencyTarget(_ name: String, default defaultValue: Duration) throws -> Duration? {
        if values[name]?.lowercased() == "off" { return nil }
        let target = try get(name, default: defaultValue)
        guard target > .zero else { throw ConfigError(variable: name, problem: "must be a positive duration or off") }
        return target
    }

    /// A port number, 0 to 65535.
    public func port(_ name: String = "PORT", default defaultValue: Int) throws -> Int {
        let port = try get(name, default: defaultValue)
        guard (0...65535).contains(port) else { throw ConfigError(variable: name, problem: "must be a port between 0 and 65535") }
        return port
    }

    /// An absolute `http://` base URL without a trailing slash.
    public func url(_ name: String, default defaultValue: String? = nil) throws -> String {
        guard let text = values[name].flatMap({ $0.isEmpty ? nil : $0 }) ?? defaultValue else {
            throw ConfigError(variable: name, problem: "is required but not set")
        }
        guard text.hasPrefix("http://"), text.count > 7, !text.contains(" ") else {
            throw ConfigError(variable: name, problem: "must be an http:// URL")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }
}
