import CPostgres
import Foundation

/// PostgreSQL through libpq. Text-format parameters and results; a write transaction is a plain
/// `BEGIN` (the study row lock taken by the number allocation serialises asks of one study).
final class PostgresConnection: SQLConnection {
    let dialect = SQLDialect.postgres
    let displayURL: String
    private var conn: OpaquePointer?

    init(url: String) throws {
        displayURL = redactPassword(url)
        conn = PQconnectdb(url)
        if conn == nil || PQstatus(conn) != CONNECTION_OK {
            let msg = conn.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(conn)
            conn = nil
            throw StorageError(
                "storage \(displayURL): cannot connect to PostgreSQL: \(msg.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        _ = try query("SET client_min_messages TO warning", [])
    }

    deinit { PQfinish(conn) }

    private static func text(_ v: SQLValue) -> String? {
        switch v {
        case .null: return nil
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
            return String(d)
        case .text(let s): return s
        }
    }

    func execute(_ sql: String, _ params: [SQLValue]) throws { _ = try query(sql, params) }

    func query(_ sql: String, _ params: [SQLValue]) throws -> [SQLRow] {
        let texts = params.map(Self.text)
        // strdup'd C strings for the call's duration.
        let cStrings: [UnsafeMutablePointer<CChar>?] = texts.map { $0.map { strdup($0) } ?? nil }
        defer { for p in cStrings { free(p) } }
        let result: OpaquePointer? = cStrings.withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(1, buf.count)) { ptr in
                PQexecParams(conn, sql, Int32(params.count), nil, params.isEmpty ? nil : ptr, nil, nil, 0)
            }
        }
        guard let result else {
            throw StorageError("storage \(displayURL): \(String(cString: PQerrorMessage(conn)))")
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        if status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK {
            let msg = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let code = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
            throw PostgresError(code: code, description: "storage \(displayURL): \(msg) (SQL: \(sql.prefix(120)))")
        }
        let n = PQntuples(result), m = PQnfields(result)
        var rows: [SQLRow] = []
        rows.reserveCapacity(Int(n))
        for r in 0..<n {
            var vals: [SQLValue] = []
            vals.reserveCapacity(Int(m))
            for c in 0..<m {
                if PQgetisnull(result, r, c) != 0 { vals.append(.null) } else {
                    vals.append(.text(String(cString: PQgetvalue(result, r, c))))
                }
            }
            rows.append(SQLRow(values: vals))
        }
        return rows
    }

    func beginWrite() throws { try execute("BEGIN") }
    func commit() throws { try execute("COMMIT") }
    func rollback() { _ = try? execute("ROLLBACK") }
    func now() throws -> Double {
        guard let t = try query("SELECT extract(epoch from clock_timestamp())::float8", []).first?.double(0) else {
            throw StorageError("storage \(displayURL): cannot read the server clock")
        }
        return t
    }
}

/// A PostgreSQL error with its SQLSTATE (e.g. 40001 serialization failure, 23505 unique violation).
struct PostgresError: Error, CustomStringConvertible {
    let code: String
    let description: String
}
