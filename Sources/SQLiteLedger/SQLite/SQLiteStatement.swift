import CSQLite

/// One prepared SQL statement, finalized when the last reference goes.
///
/// Parameters are bound by 1-based index (SQLite's convention for `?` and `?NNN`); columns are
/// read by 0-based index, also SQLite's convention. Not thread-safe: use it only under the lock
/// that guards its connection.
final class SQLiteStatement {
    /// The SQL text, for error messages.
    let sql: String
    private let handle: OpaquePointer

    init(handle: OpaquePointer, sql: String) {
        self.handle = handle
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(handle)
    }

    // MARK: binding

    /// Binds `value` to parameter `index` (1-based).
    func bind(_ value: Int, at index: Int32) throws {
        try check(sqlite3_bind_int64(handle, index, Int64(value)))
    }

    /// Binds `value` to parameter `index` (1-based).
    func bind(_ value: Double, at index: Int32) throws {
        try check(sqlite3_bind_double(handle, index, value))
    }

    /// Binds `value` as UTF-8 text to parameter `index` (1-based).
    func bind(_ value: String, at index: Int32) throws {
        // SQLITE_TRANSIENT: SQLite copies the bytes, since Swift's buffer only lives for the call.
        // The length is given, not left to a C string's NUL: "t1\0" must not be bound as "t1".
        try check(sqlite3_bind_text(handle, index, value, Int32(value.utf8.count), CSQLite_transient()))
    }

    /// Binds `value` as text, or NULL when it is nil, to parameter `index` (1-based).
    func bind(_ value: String?, at index: Int32) throws {
        if let value { try bind(value, at: index) } else { try bindNull(at: index) }
    }

    /// Binds `value`, or NULL when it is nil, to parameter `index` (1-based).
    func bind(_ value: Int?, at index: Int32) throws {
        if let value { try bind(value, at: index) } else { try bindNull(at: index) }
    }

    /// Binds the raw bytes of `floats` (native byte order, 4 bytes each) as a blob to parameter `index`.
    func bind(floats: [Float], at index: Int32) throws {
        let code = floats.withUnsafeBytes { bytes in
            // A zero-length blob still needs a non-null pointer, or SQLite stores NULL.
            sqlite3_bind_blob(handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                              Int32(bytes.count), CSQLite_transient())
        }
        try check(code)
    }

    /// Binds NULL to parameter `index` (1-based).
    func bindNull(at index: Int32) throws {
        try check(sqlite3_bind_null(handle, index))
    }

    // MARK: running

    /// Runs the statement one step: true when a row is ready to read, false when it has finished.
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code: throw SQLiteError.from(code, db: sqlite3_db_handle(handle), context: sql)
        }
    }

    /// Rewinds the statement so it can run again and clears its bindings.
    ///
    /// A statement left mid-way keeps its read snapshot (and, in WAL mode, stops checkpoints
    /// from getting past it), so every use ends with a reset.
    func reset() {
        // sqlite3_reset repeats the last step's error, which step() has already reported.
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Steps through every row, calling `body` for each, and resets the statement afterwards.
    func forEachRow(_ body: () throws -> Void) throws {
        defer { reset() }
        while try step() { try body() }
    }

    /// Runs a statement that returns no rows (or whose rows are not wanted) and resets it.
    func run() throws {
        defer { reset() }
        while try step() {}
    }

    // MARK: columns

    /// Number of columns in each result row.
    var columnCount: Int32 { sqlite3_column_count(handle) }

    /// True when column `index` (0-based) of the current row is NULL.
    func isNull(at index: Int32) -> Bool {
        sqlite3_column_type(handle, index) == SQLITE_NULL
    }

    /// Column `index` (0-based) of the current row as an integer.
    func int(at index: Int32) -> Int {
        Int(sqlite3_column_int64(handle, index))
    }

    /// Column `index` (0-based) of the current row as an integer, nil when it is NULL.
    func optionalInt(at index: Int32) -> Int? {
        isNull(at: index) ? nil : int(at: index)
    }

    /// Column `index` (0-based) of the current row as a double.
    func double(at index: Int32) -> Double {
        sqlite3_column_double(handle, index)
    }

    /// Column `index` (0-based) of the current row as text ("" for NULL).
    func string(at index: Int32) -> String {
        guard let text = sqlite3_column_text(handle, index) else { return "" }
        return String(cString: text)
    }

    /// Column `index` (0-based) of the current row as text, nil for NULL.
    func optionalString(at index: Int32) -> String? {
        isNull(at: index) ? nil : string(at: index)
    }

    /// Size in bytes of the blob or text in column `index` (0-based) of the current row.
    func byteCount(at index: Int32) -> Int {
        Int(sqlite3_column_bytes(handle, index))
    }

    /// The blob in column `index` (0-based) of the current row read as native-order floats.
    ///
    /// Trailing bytes that do not make a whole float are ignored: callers check `byteCount` first.
    func floats(at index: Int32) -> [Float] {
        // sqlite3_column_blob before sqlite3_column_bytes, as SQLite's documentation asks.
        let pointer = sqlite3_column_blob(handle, index)
        let count = byteCount(at: index) / MemoryLayout<Float>.size
        guard let pointer, count > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            // Copied bytewise: SQLite gives no alignment guarantee for blob memory.
            UnsafeMutableRawBufferPointer(buffer).copyMemory(
                from: UnsafeRawBufferPointer(start: pointer, count: count * MemoryLayout<Float>.size))
            initialized = count
        }
    }

    /// Calls `body` with the bytes of the blob in column `index` (0-based) of the current row,
    /// valid only during the call (empty for NULL or an empty blob).
    func withBlob<Result>(at index: Int32, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let pointer = sqlite3_column_blob(handle, index)
        return try body(UnsafeRawBufferPointer(start: pointer, count: pointer == nil ? 0 : byteCount(at: index)))
    }

    private func check(_ code: Int32) throws {
        guard code == SQLITE_OK else {
            throw SQLiteError.from(code, db: sqlite3_db_handle(handle), context: sql)
        }
    }
}
