import CSQLite

/// A failed SQLite call: SQLite's result code and message, and what was being done.
public struct SQLiteError: Error, CustomStringConvertible, Equatable {
    /// SQLite's extended result code (`SQLITE_CONSTRAINT_UNIQUE` = 2067, `SQLITE_BUSY` = 5, …).
    public let code: Int32
    /// SQLite's own message for the failure (`sqlite3_errmsg`), or the result code's description.
    public let message: String
    /// The SQL statement or the operation that failed, so a log line says where.
    public let context: String

    /// An error with `code`, `message` and `context`.
    public init(code: Int32, message: String, context: String) {
        self.code = code
        self.message = message
        self.context = context
    }

    /// SQLite's primary result code: the low byte of `code` (`SQLITE_CONSTRAINT` for every constraint failure).
    public var primaryCode: Int32 { code & 0xFF }

    /// True for `SQLITE_BUSY` and `SQLITE_LOCKED`: another connection held the lock past the busy timeout.
    public var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }

    /// True when a constraint (UNIQUE, NOT NULL, FOREIGN KEY, …) refused the change.
    public var isConstraintViolation: Bool { primaryCode == SQLITE_CONSTRAINT }

    /// The code and its meaning, for a client: no SQL, no names from the schema.
    public var summary: String {
        "SQLite error \(code): \(String(cString: sqlite3_errstr(code)))"
    }

    /// One line for logs: the code, its meaning, SQLite's message and the SQL or operation.
    public var description: String {
        "SQLite error \(code) (\(String(cString: sqlite3_errstr(code)))): \(message) [\(context)]"
    }

    /// The error for `code` on `db`, reading SQLite's message for it (call before the next SQLite call on `db`).
    static func from(_ code: Int32, db: OpaquePointer?, context: String) -> SQLiteError {
        // sqlite3_errmsg describes the most recent failing call on the connection; without a
        // connection (open failed early) the generic text for the code is all there is.
        let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
        let extended = db.map { sqlite3_extended_errcode($0) } ?? code
        // Prefer the extended code when it refines the one returned (2067 rather than 19).
        let resolved = extended & 0xFF == code & 0xFF ? extended : code
        return SQLiteError(code: resolved, message: message, context: context)
    }
}
