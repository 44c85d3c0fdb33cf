/// A storage failure. `code` is what callers branch on; `message` is for logs and never reaches a client.
public struct DatabaseError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The server is unreachable or the connection broke; the statement may not have run.
        case connectionLost
        /// A unique or primary key constraint refused the write.
        case uniqueViolation
        /// Another constraint (foreign key, check, not null) refused the write.
        case constraintViolation
        /// A serialization failure or deadlock: the transaction may be retried.
        case serializationFailure
        /// No connection became free, or the database stayed locked, within the wait limit.
        case timeout
        /// A column could not be decoded as the requested type.
        case decoding
        /// The database was closed.
        case closed
        /// A migration was changed after it was applied, or is unknown.
        case migration
        /// Anything else the engine reported.
        case other
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "DatabaseError(\(code)): \(message)" }
}
