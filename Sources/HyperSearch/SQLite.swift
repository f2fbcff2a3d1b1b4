import CSQLite
import Foundation

/// SQLite: WAL journal, a 60 s busy timeout, `BEGIN IMMEDIATE` for every write transaction (so that
/// claiming a trial and allocating its number are serialised between processes).
final class SQLiteConnection: SQLConnection {
    let dialect = SQLDialect.sqlite
    let displayURL: String
    private var db: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]

    init(path: String, url: String) throws {
        displayURL = url
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        if rc != SQLITE_OK {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            db = nil
            throw StorageError("storage \(url): cannot open SQLite database '\(path)': \(msg)")
        }
        sqlite3_busy_timeout(db, 60_000)
        // WAL lets readers run beside the writer; NORMAL sync is durable across process kills.
        _ = try query("PRAGMA journal_mode=WAL", [])
        try execute("PRAGMA synchronous=NORMAL")
        try execute("PRAGMA foreign_keys=ON")
    }

    deinit {
        for (_, s) in statements { sqlite3_finalize(s) }
        sqlite3_close(db)
    }

    private func error(_ what: String, _ sql: String) -> StorageError {
        let msg = String(cString: sqlite3_errmsg(db))
        return StorageError("storage \(displayURL): \(what): \(msg) (SQL: \(sql.prefix(120)))")
    }

    private func prepare(_ sql: String) throws -> OpaquePointer {
        if let s = statements[sql] {
            sqlite3_reset(s)
            sqlite3_clear_bindings(s)
            return s
        }
        var s: OpaquePointer?
        if sqlite3_prepare_v2(db, sql, -1, &s, nil) != SQLITE_OK || s == nil { throw error("prepare", sql) }
        statements[sql] = s!
        return s!
    }

    private func bind(_ s: OpaquePointer, _ params: [SQLValue], _ sql: String) throws {
        for (i, p) in params.enumerated() {
            let idx = sqlite3_bind_parameter_index(s, "$\(i + 1)")
            if idx == 0 { continue }
            let rc: Int32
            switch p {
            case .null: rc = sqlite3_bind_null(s, idx)
            case .int(let v): rc = sqlite3_bind_int64(s, idx, v)
            case .double(let d): rc = d.isNaN ? sqlite3_bind_null(s, idx) : sqlite3_bind_double(s, idx, d)
            case .text(let t): rc = e3d_sqlite3_bind_text(s, idx, t)
            }
            if rc != SQLITE_OK { throw error("bind", sql) }
        }
    }

    func execute(_ sql: String, _ params: [SQLValue]) throws {
        _ = try query(sql, params)
    }

    func query(_ sql: String, _ params: [SQLValue]) throws -> [SQLRow] {
        let s = try prepare(sql)
        defer { sqlite3_reset(s) }
        try bind(s, params, sql)
        var rows: [SQLRow] = []
        while true {
            let rc = sqlite3_step(s)
            if rc == SQLITE_DONE { break }
            if rc != SQLITE_ROW { throw error("step", sql) }
            let n = sqlite3_column_count(s)
            var vals: [SQLValue] = []
            vals.reserveCapacity(Int(n))
            for c in 0..<n {
                switch sqlite3_column_type(s, c) {
                case SQLITE_NULL: vals.append(.null)
                case SQLITE_INTEGER: vals.append(.int(sqlite3_column_int64(s, c)))
                case SQLITE_FLOAT: vals.append(.double(sqlite3_column_double(s, c)))
                default: vals.append(.text(String(cString: sqlite3_column_text(s, c))))
                }
            }
            rows.append(SQLRow(values: vals))
        }
        return rows
    }

    func beginWrite() throws { try execute("BEGIN IMMEDIATE") }
    func commit() throws { try execute("COMMIT") }
    func rollback() { _ = try? execute("ROLLBACK") }
    func now() throws -> Double { Date().timeIntervalSince1970 }
}
