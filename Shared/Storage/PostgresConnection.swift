import CLibPQ
import FoundationEssentials
import Glibc
import Platform

/// libpq's functions, from the library opened by the process's first PostgreSQL database (not linked: see
/// Shared/CLibPQ/shim.h).
struct LibPQ: @unchecked Sendable {
    /// The soname every libpq since PostgreSQL 8.2 has kept.
    static let library = "libpq.so.5"

    let functions: sagamart_libpq

    private static let loaded: Result<LibPQ, DatabaseError> = {
        var error: UnsafePointer<CChar>?
        guard let functions = sagamart_libpq_load(library, &error) else {
            let reason = error.map { String(cString: $0) } ?? "unknown error"
            return .failure(DatabaseError(.other, "cannot load \(library), PostgreSQL's client library: \(reason)"))
        }
        return .success(LibPQ(functions: functions.pointee))
    }()

    /// The library, opened on the first call; throws when it is not installed.
    static func load() throws -> LibPQ { try loaded.get() }
}

/// One libpq connection with its prepared statements. Used by one thread at a time.
///
/// Connects lazily and again after the connection broke, so a restarted server is picked up without
/// restarting the service; the statement that met the broken connection fails with `.connectionLost`.
final class PostgresConnection: DatabaseConnection {
    private let conninfo: String
    private let pq: sagamart_libpq
    private var connection: OpaquePointer?
    private var prepared: [String: String] = [:]
    private var nextStatement = 0
    var dialect: SQLDialect { .postgres }

    init(conninfo: String, libpq: LibPQ) {
        self.conninfo = conninfo
        pq = libpq.functions
    }

    deinit {
        assert(connection == nil, "PostgresConnection was not closed")
    }

    func close() {
        if let connection { pq.PQfinish(connection) }
        connection = nil
        prepared = [:]
    }

    /// Connects if not connected (or no longer), and rolls back a transaction a failed job left open.
    func prepareForJob() throws {
        if let connection, pq.PQstatus(connection) == CONNECTION_OK, !endedByServer(connection) {
            if pq.PQtransactionStatus(connection) != PQTRANS_IDLE {
                try executeScript("ROLLBACK")
            }
            return
        }
        close()
        // https://www.postgresql.org/docs/15/libpq-connect.html: with expand_dbname the URI in "dbname" is
        // expanded and the keywords after it override its settings.
        let keys = ["dbname", "connect_timeout", "application_name"]
        let values = [conninfo, "5", "sagamart"]
        let connection = withArrayOfCStrings(keys) { keyPointers in
            withArrayOfCStrings(values) { valuePointers in
                pq.PQconnectdbParams(keyPointers, valuePointers, 1)
            }
        }
        guard let connection else { throw DatabaseError(.connectionLost, "libpq could not allocate a connection") }
        guard pq.PQstatus(connection) == CONNECTION_OK else {
            let message = Self.text(pq.PQerrorMessage(connection)).trimmingWhitespace()
            pq.PQfinish(connection)
            throw DatabaseError(.connectionLost, "cannot connect to PostgreSQL: \(message)")
        }
        // Notices ("relation already exists, skipping") would go to stderr; the service logs what matters.
        pq.PQsetNoticeProcessor(connection, { _, _ in }, nil)
        self.connection = connection
        try executeScript("SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD'")
    }

    /// Whether the server has ended this idle connection. libpq learns that only when it next reads, so
    /// a connection that sat idle through a server restart (or `pg_terminate_backend`, or a backend's
    /// crash) would fail the next job's first statement. Between jobs the server sends nothing we asked
    /// for (no LISTEN here), so a socket with anything to read, or closed, is one the server has ended:
    /// its last words are "FATAL: terminating connection" and then end of file. At worst an unsolicited
    /// ParameterStatus costs a reconnection. One `poll` with no wait per job.
    private func endedByServer(_ connection: OpaquePointer) -> Bool {
        let socket = pq.PQsocket(connection)
        guard socket >= 0 else { return true }
        var entry = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0
    }

    func executeScript(_ sql: String) throws {
        let connection = try live()
        let result = pq.PQexec(connection, sql)
        defer { pq.PQclear(result) }
        try check(result)
    }

    @discardableResult
    func execute(_ sql: String, _ parameters: [DatabaseValue]) throws -> Int {
        let connection = try live()
        let result = try run(connection, sql, parameters)
        defer { pq.PQclear(result) }
        return Int(Self.text(pq.PQcmdTuples(result))) ?? 0
    }

    func query(_ sql: String, _ parameters: [DatabaseValue]) throws -> [Row] {
        let connection = try live()
        let result = try run(connection, sql, parameters)
        defer { pq.PQclear(result) }
        let rowCount = pq.PQntuples(result)
        let fieldCount = pq.PQnfields(result)
        let columns = (0..<fieldCount).map { Self.text(pq.PQfname(result, $0)) }
        let types = (0..<fieldCount).map { pq.PQftype(result, $0) }
        var rows: [Row] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [DatabaseValue] = []
            values.reserveCapacity(Int(fieldCount))
            for field in 0..<fieldCount {
                if pq.PQgetisnull(result, row, field) == 1 {
                    values.append(.null)
                } else {
                    values.append(Self.decode(Self.text(pq.PQgetvalue(result, row, field)), type: types[Int(field)]))
                }
            }
            rows.append(Row(columns: columns, values: values))
        }
        return rows
    }

    private func live() throws -> OpaquePointer {
        guard let connection, pq.PQstatus(connection) == CONNECTION_OK else {
            throw DatabaseError(.connectionLost, "not connected to PostgreSQL")
        }
        return connection
    }

    /// Prepares the statement once per connection, then executes it with parameters in text form
    /// (binary for bytes): https://www.postgresql.org/docs/15/libpq-exec.html#LIBPQ-PQEXECPREPARED
    private func run(_ connection: OpaquePointer, _ sql: String, _ parameters: [DatabaseValue]) throws -> OpaquePointer? {
        let name: String
        if let existing = prepared[sql] {
            name = existing
        } else {
            nextStatement += 1
            name = "s\(nextStatement)"
            let result = pq.PQprepare(connection, name, sql, Int32(parameters.count), nil)
            defer { pq.PQclear(result) }
            try check(result)
            prepared[sql] = name
        }
        var texts: [[UInt8]?] = []
        var formats: [Int32] = []
        for value in parameters {
            switch value {
            case .null: texts.append(nil)
            case .integer(let v): texts.append(Array(String(v).utf8))
            case .real(let v): texts.append(Array(String(v).utf8))
            case .bool(let v): texts.append(Array((v ? "t" : "f").utf8))
            case .text(let v): texts.append(Array(v.utf8))
            case .date(let v): texts.append(Array(Timestamp.format(v).utf8))
            case .uuid(let v): texts.append(Array(v.uuidString.lowercased().utf8))
            case .blob(let v): texts.append(v)
            }
            if case .blob = value { formats.append(1) } else { formats.append(0) }
        }
        let lengths = texts.map { Int32($0?.count ?? 0) }
        // Text parameters need a terminating NUL; binary ones are read by length.
        let buffers: [UnsafeMutablePointer<CChar>?] = texts.map { bytes in
            guard let bytes else { return nil }
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            bytes.withUnsafeBytes {
                UnsafeMutableRawPointer(pointer).copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(pointer), byteCount: bytes.count)
            }
            pointer[bytes.count] = 0
            return pointer
        }
        defer { for buffer in buffers { buffer?.deallocate() } }
        let result = buffers.map { UnsafePointer($0) }.withUnsafeBufferPointer { values in
            lengths.withUnsafeBufferPointer { lengths in
                formats.withUnsafeBufferPointer { formats in
                    pq.PQexecPrepared(
                        connection,
                        name,
                        Int32(parameters.count),
                        values.baseAddress,
                        lengths.baseAddress,
                        formats.baseAddress,
                        0
                    )
                }
            }
        }
        do {
            try check(result)
        } catch {
            pq.PQclear(result)
            throw error
        }
        return result
    }

    private func check(_ result: OpaquePointer?) throws {
        let status = result.map { pq.PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY { return }
        let state = result.flatMap { pq.PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) } ?? ""
        let message =
            result.flatMap { pq.PQresultErrorField($0, Int32(UInt8(ascii: "M"))) }.map { String(cString: $0) }
            ?? connection.map { Self.text(pq.PQerrorMessage($0)) } ?? "no result"
        let broken = connection.map { pq.PQstatus($0) != CONNECTION_OK } ?? true
        if broken || state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03" {
            prepared = [:]
            throw DatabaseError(.connectionLost, "PostgreSQL connection lost: \(message)")
        }
        switch state {
        case "23505": throw DatabaseError(.uniqueViolation, message)
        case _ where state.hasPrefix("23"): throw DatabaseError(.constraintViolation, message)
        case "40001", "40P01": throw DatabaseError(.serializationFailure, message)
        case "55P03", "57014": throw DatabaseError(.timeout, message)
        default: throw DatabaseError(.other, "\(state): \(message)")
        }
    }

    /// A string libpq returned (NULL, which it documents for no function used here, reads as empty).
    private static func text(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        pointer.map { String(cString: $0) } ?? ""
    }

    /// Decodes a text-format value by its type OID (pg_type.dat).
    private static func decode(_ text: String, type: Oid) -> DatabaseValue {
        switch type {
        case 20, 21, 23, 26: return Int64(text).map { .integer($0) } ?? .text(text)
        case 700, 701: return Double(text).map { .real($0) } ?? .text(text)
        case 16: return .bool(text == "t")
        case 17: return .blob(decodeHex(text))
        case 1114, 1184: return Timestamp.parse(text).map { .date($0) } ?? .text(text)
        case 2950: return UUID(uuidString: text).map { .uuid($0) } ?? .text(text)
        default: return .text(text)
        }
    }

    /// bytea's hex output format: `\x` followed by two hex digits a byte.
    private static func decodeHex(_ text: String) -> [UInt8] {
        let digits = Array(text.utf8.dropFirst(2))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        func nibble(_ c: UInt8) -> UInt8 {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return 0
            }
        }
        while index + 1 < digits.count {
            bytes.append(nibble(digits[index]) << 4 | nibble(digits[index + 1]))
            index += 2
        }
        return bytes
    }
}

private func withArrayOfCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) }
    defer { for pointer in pointers { free(pointer) } }
    let constPointers: [UnsafePointer<CChar>?] = pointers.map { UnsafePointer($0) } + [nil]
    return constPointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
