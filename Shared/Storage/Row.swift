/// One result row: column names and typed values.
public struct Row: Sendable {
    public let columns: [String]
    public let values: [DatabaseValue]

    public init(columns: [String], values: [DatabaseValue]) {
        self.columns = columns
        self.values = values
    }

    /// The raw value of the named column (`.null` if there is no such column).
    public subscript(_ column: String) -> DatabaseValue {
        guard let index = columns.firstIndex(of: column) else { return .null }
        return values[index]
    }

    /// Decodes the named column, or throws a `DatabaseError` naming the column (never the value).
    public func decode<T: DatabaseValueConvertible>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let index = columns.firstIndex(of: column) else {
            throw DatabaseError(.decoding, "no column named \(column)")
        }
        guard let value = T.decode(values[index]) else {
            throw DatabaseError(.decoding, "column \(column) does not hold a \(T.self)")
        }
        return value
    }
}
