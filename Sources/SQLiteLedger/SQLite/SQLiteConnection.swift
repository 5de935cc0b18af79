import CFTSRank
import CSQLite
import Storage

/// One SQLite connection, closed when the last reference goes.
///
/// Opened with `SQLITE_OPEN_NOMUTEX`: SQLite does not lock for us, so every use must happen under
/// one lock held by the owner (the store and the tracker keep each connection in a `Locked`).
/// Prepared statements are cached by SQL text for the connection's lifetime.
final class SQLiteConnection {
    /// How long a call waits for another connection's lock before failing with `SQLITE_BUSY`.
    static let busyTimeoutMilliseconds: Int32 = 5000

    /// The file the connection was opened on.
    let path: String
    private let handle: OpaquePointer
    private var statements: [String: SQLiteStatement] = [:]

    /// Opens (creating it unless `readOnly`) the database at `path` and applies the connection's
    /// settings: busy timeout, foreign keys, and for a writer WAL journaling with `synchronous=NORMAL`.
    init(path: String, readOnly: Bool = false) throws {
        var flags = SQLITE_OPEN_NOMUTEX
        flags |= readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        var db: OpaquePointer?
        let code = sqlite3_open_v2(path, &db, flags, nil)
        guard code == SQLITE_OK, let db else {
            let error = SQLiteError.from(code, db: db, context: "open \(path)")
            // A failed open can still allocate a handle, which must be released.
            sqlite3_close_v2(db)
            throw error
        }
        self.handle = db
        self.path = path
        // Extended codes tell a UNIQUE violation (2067) from other constraint failures.
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, Self.busyTimeoutMilliseconds)
        try execute("PRAGMA foreign_keys = ON")
        if !readOnly {
            // WAL lets readers go on while a writer holds a transaction; NORMAL is durable across
            // application crashes and only risks the last commits on power loss, which an ingest
            // can redo.
            try execute("PRAGMA journal_mode = WAL")
            try execute("PRAGMA synchronous = NORMAL")
        }
    }

    deinit {
        // Statements first: close_v2 would otherwise leave a zombie handle until they go.
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs one or more SQL statements that take no parameters, discarding any rows.
    func execute(_ sql: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        guard code == SQLITE_OK else {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_free(errorMessage)
            let extended = sqlite3_extended_errcode(handle)
            throw SQLiteError(code: extended & 0xFF == code ? extended : code, message: message, context: sql)
        }
    }

    /// Compiles `sql` into a new statement, owned by the caller.
    func prepare(_ sql: String) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard code == SQLITE_OK, let statement else {
            throw SQLiteError.from(code, db: handle, context: sql)
        }
        return SQLiteStatement(handle: statement, sql: sql)
    }

    /// The connection's cached statement for `sql`, prepared on first use, reset and unbound.
    ///
    /// Only one use of a given SQL text may be in progress at a time: a nested use would rewind
    /// the outer one.
    func cached(_ sql: String) throws -> SQLiteStatement {
        if let statement = statements[sql] {
            statement.reset()
            return statement
        }
        let statement = try prepare(sql)
        statements[sql] = statement
        return statement
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction, committing when it returns and rolling back
    /// when it (or the commit) throws.
    ///
    /// IMMEDIATE takes the write lock at the start, so a conflicting writer waits on the busy
    /// timeout here instead of failing half-way through with a deadlock-style `SQLITE_BUSY`.
    func transaction<Result>(_ body: () throws -> Result) throws -> Result {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            // Some errors (SQLITE_FULL, SQLITE_IOERR, …) roll back by themselves; only roll back
            // what is still open, and report the original error rather than the rollback's.
            if !isAutocommit { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Runs `body` in a `BEGIN DEFERRED` transaction, so that the statements it runs read one
    /// snapshot of the database; ends it however `body` leaves.
    func readTransaction<Result>(_ body: () throws -> Result) throws -> Result {
        try execute("BEGIN DEFERRED")
        defer { if !isAutocommit { try? execute("COMMIT") } }
        return try body()
    }

    /// False while a transaction is open.
    var isAutocommit: Bool { sqlite3_get_autocommit(handle) != 0 }

    /// Rows changed by INSERT, UPDATE and DELETE since the connection opened (triggers included).
    var totalChanges: Int { Int(sqlite3_total_changes64(handle)) }

    /// Rows changed by the last INSERT, UPDATE or DELETE (not counting trigger changes).
    var changes: Int { Int(sqlite3_changes64(handle)) }

    /// Makes `rag_bm25` and `rag_bm25_top` (see `CFTSRank_register`) available to this
    /// connection's FTS5 queries.
    func registerRankingFunction() throws {
        let code = CFTSRank_register(handle)
        guard code == SQLITE_OK else { throw SQLiteError.from(code, db: handle, context: "register rag_bm25") }
    }

    /// Integer result of a query's first column in its first row, nil when there is no row.
    func scalarInt(_ sql: String) throws -> Int? {
        let statement = try cached(sql)
        defer { statement.reset() }
        return try statement.step() ? statement.int(at: 0) : nil
    }
}
