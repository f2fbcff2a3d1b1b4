import Foundation

/// A failure of a storage: names the storage URL (without password) and, where known, the study.
public struct StorageError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

enum SQLValue: Sendable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
}

/// A result row. PostgreSQL returns text; the accessors parse either form.
struct SQLRow {
    let values: [SQLValue]
    func isNull(_ i: Int) -> Bool { if case .null = values[i] { return true } else { return false } }
    func int(_ i: Int) -> Int64? {
        switch values[i] {
        case .int(let v): return v
        case .double(let d): return Int64(d)
        case .text(let s): return Int64(s)
        case .null: return nil
        }
    }
    func double(_ i: Int) -> Double? {
        switch values[i] {
        case .int(let v): return Double(v)
        case .double(let d): return d
        case .text(let s):
            switch s {
            case "NaN": return .nan
            case "Infinity": return .infinity
            case "-Infinity": return -.infinity
            default: return Double(s)
            }
        case .null: return nil
        }
    }
    func text(_ i: Int) -> String? {
        switch values[i] {
        case .text(let s): return s
        case .int(let v): return String(v)
        case .double(let d): return String(d)
        case .null: return nil
        }
    }
}

enum SQLDialect { case sqlite, postgres }

/// One database connection, used by one thread at a time. SQL uses `$1, $2, …` placeholders, each first
/// appearing in increasing order.
protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }
    /// The URL for messages (password removed).
    var displayURL: String { get }
    func execute(_ sql: String, _ params: [SQLValue]) throws
    func query(_ sql: String, _ params: [SQLValue]) throws -> [SQLRow]
    /// Starts a transaction that may write (SQLite: BEGIN IMMEDIATE, waiting for the write lock).
    func beginWrite() throws
    func commit() throws
    func rollback()
    /// Seconds since 1970 on the database's clock (PostgreSQL: the server's, so that machines agree).
    func now() throws -> Double
}

extension SQLConnection {
    func execute(_ sql: String) throws { try execute(sql, []) }

    /// Runs `body` in a write transaction; rolls back on error (the study is never left half-written).
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try beginWrite()
        do {
            let r = try body()
            try commit()
            return r
        } catch {
            rollback()
            throw error
        }
    }
}

/// Opens a connection for a storage URL: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`
/// (SQLAlchemy's convention, as in Optuna), `postgresql://user@host:port/db` or `postgres://…` (any libpq
/// connection URI, e.g. `postgresql:///db?host=/run/dir` for a Unix socket).
func openConnection(_ url: String) throws -> any SQLConnection {
    if url.hasPrefix("sqlite:///") {
        let path = String(url.dropFirst("sqlite:///".count))
        if path.isEmpty { throw StorageError("storage \(url): no database file after sqlite:///") }
        return try SQLiteConnection(path: path, url: url)
    }
    if url.hasPrefix("postgresql://") || url.hasPrefix("postgres://") {
        return try PostgresConnection(url: url)
    }
    throw StorageError(
        "storage \(redactPassword(url)): unknown URL scheme (use sqlite:///path/study.db or postgresql://user@host/db)")
}

/// `postgresql://user:secret@host/db` → `postgresql://user:***@host/db`.
func redactPassword(_ url: String) -> String {
    guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
    let userinfo = url[scheme.upperBound..<at]
    guard let colon = userinfo.firstIndex(of: ":") else { return url }
    return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
}
