import CSQLite
import Foundation

public struct SQLiteError: Error, CustomStringConvertible {
    public let description: String
    public init(_ path: String, _ what: String, _ db: OpaquePointer?) {
        let detail = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
        description = "\(path): \(what): \(detail)"
    }
}

/// A value bound to, or read from, a statement column.
public enum SQLValue: Equatable, Sendable {
    case integer(Int64), real(Double), text(String), null

    public var int: Int? { if case let .integer(v) = self { return Int(v) }; return nil }
    public var double: Double? {
        switch self { case let .real(v): return v; case let .integer(v): return Double(v); default: return nil }
    }
    public var string: String? { if case let .text(v) = self { return v }; return nil }
}

/// The little of SQLite the coordinator needs: a WAL database, statements with bound values, and
/// transactions. One connection, used from one thread.
public final class SQLiteDatabase {
    private var handle: OpaquePointer?
    public let path: String
    /// Prepared once, reused: the coordinator runs the same few statements thousands of times a second.
    private var statements: [String: OpaquePointer] = [:]
    private var transactionDepth = 0

    public init(path: String) throws {
        self.path = path
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
            let error = SQLiteError(path, "cannot open", handle)
            sqlite3_close(handle)
            throw error
        }
        sqlite3_busy_timeout(handle, 5000)
        // WAL: a commit is one append plus fsync, and a reader (status) never blocks the writer.
        try execute("PRAGMA journal_mode = WAL")
        try execute("PRAGMA synchronous = FULL")
        let check = try query("PRAGMA quick_check")
        guard check.first?.first?.string == "ok" else {
            throw SQLiteError(path, "the state database is corrupt (quick_check: \(check.first?.first?.string ?? "no answer"))", nil)
        }
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close(handle)
    }

    public func execute(_ sql: String, _ values: [SQLValue] = []) throws {
        _ = try query(sql, values)
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ values: [SQLValue] = []) throws -> [[SQLValue]] {
        var statement = statements[sql]
        if statement == nil {
            guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else {
                throw SQLiteError(path, "cannot prepare '\(sql)'", handle)
            }
            statements[sql] = statement
        }
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            switch value {
            case let .integer(v): sqlite3_bind_int64(statement, index, v)
            case let .real(v): sqlite3_bind_double(statement, index, v)
            case let .text(v): csqlite_bind_text_copy(statement, index, v)
            case .null: sqlite3_bind_null(statement, index)
            }
        }
        var rows: [[SQLValue]] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else { throw SQLiteError(path, "'\(sql)' failed", handle) }
            rows.append((0..<sqlite3_column_count(statement)).map { column in
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, column))
                case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, column))
                case SQLITE_TEXT: return .text(String(cString: sqlite3_column_text(statement, column)))
                default: return .null
                }
            })
        }
        return rows
    }

    /// Runs `body` in one transaction: all of it is durable, or none of it. Inside another transaction it
    /// joins that one (one commit, one fsync, for a whole batch).
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        if transactionDepth > 0 {
            transactionDepth += 1
            defer { transactionDepth -= 1 }
            return try body()
        }
        try execute("BEGIN IMMEDIATE")
        transactionDepth = 1
        defer { transactionDepth = 0 }
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Rows changed by the last statement (0 when an INSERT OR IGNORE hit an existing key).
    public var changes: Int { Int(sqlite3_changes(handle)) }
}
