import Foundation
import Logging
import Testing

@testable import ServiceKit

@Suite("Configuration from the environment")
struct ConfigTests {
    @Test func typedValuesAndDefaults() throws {
        let environment = Environment(["PORT": "9000", "FLAG": "yes", "WAIT": "250ms", "LONG": "2m", "RATIO": "0.5", "EMPTY": ""])
        #expect(try environment.port(default: 1) == 9000)
        #expect(try environment.get("FLAG", default: false))
        #expect(try environment.get("WAIT", default: Duration.seconds(1)) == .milliseconds(250))
        #expect(try environment.get("LONG", default: Duration.seconds(1)) == .seconds(120))
        #expect(try environment.get("RATIO", default: 1.0) == 0.5)
        #expect(try environment.get("MISSING", default: 7) == 7)
        #expect(try environment.get("EMPTY", default: "fallback") == "fallback")
        #expect(try environment.url("U", default: "http://h:1/") == "http://h:1")
    }

    /// CHECKOUT_LATENCY_TARGET: a positive duration, `off` for none, the default when unset; anything else
    /// stops the start.
    @Test func aLatencyTargetIsADurationOrOff() throws {
        let environment = Environment(["SET": "250ms", "OFF": "off", "EMPTY": "", "ZERO": "0", "WORD": "soon"])
        #expect(try environment.latencyTarget("SET", default: .seconds(1)) == .milliseconds(250))
        #expect(try environment.latencyTarget("OFF", default: .seconds(1)) == nil)
        #expect(try environment.latencyTarget("EMPTY", default: .seconds(1)) == .seconds(1))
        #expect(try environment.latencyTarget("UNSET", default: .seconds(1)) == .seconds(1))
        #expect(throws: ConfigError.self) { try environment.latencyTarget("ZERO", default: .seconds(1)) }
        #expect(throws: ConfigError.self) { try environment.latencyTarget("WORD", default: .seconds(1)) }
    }

    @Test func errorsNameTheVariableAndNotTheValue() throws {
        let environment = Environment(["PORT": "eighty", "SECRET_THING": "hunter2", "BIG": "70000", "URL": "ftp://x"])
        #expect(throws: ConfigError(variable: "PORT", problem: "must be an integer")) { try environment.port(default: 1) }
        #expect(throws: ConfigError(variable: "BIG", problem: "must be a port between 0 and 65535")) {
            try environment.port("BIG", default: 1)
        }
        #expect(throws: ConfigError(variable: "NOPE", problem: "is required but not set")) {
            try environment.require("NOPE", as: String.self)
        }
        #expect(throws: ConfigError(variable: "URL", problem: "must be an http:// URL")) { try environment.url("URL") }
        do {
            _ = try environment.get("SECRET_THING", default: 1)
            Issue.record("expected an error")
        } catch let error as ConfigError {
            #expect(error.description.contains("SECRET_THING"))
            #expect(!error.description.contains("hunter2"))
        }
        #expect(throws: ConfigError.self) { try environment.get("PORT", default: Logger.Level.info) }
    }

    @Test func serviceRuntimeRequiresAStrongSecret() throws {
        #expect(throws: ConfigError(variable: "SERVICE_SIGNING_KEY", problem: "is required but not set")) {
            try ServiceRuntime(name: "t", defaultPort: 0, environment: Environment([:]))
        }
        #expect(throws: ConfigError(variable: "SERVICE_SIGNING_KEY", problem: "must be a 32-byte Ed25519 private key in base64")) {
            try ServiceRuntime(name: "t", defaultPort: 0, environment: Environment(["SERVICE_SIGNING_KEY": "short"]))
        }
        #expect(throws: ConfigError(variable: "LOG_FORMAT", problem: "must be json or text")) {
            try ServiceRuntime(
                name: "t",
                defaultPort: 0,
                environment: Environment(["SAGAMART_ENV": "development", "LOG_FORMAT": "xml"])
            )
        }
    }
}
