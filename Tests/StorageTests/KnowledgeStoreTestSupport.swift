import Foundation
import Logging
@testable import SQLiteLedger
@testable import Storage

/// Vectors of this many floats keep the store tests small.
let testDimension = 8

/// A logger that drops everything, for stores under test.
let quietLogger = Logger(label: "storage-tests") { _ in SwiftLogNoOpLogHandler() }

/// A unit vector along axis `axis` (mod `testDimension`), tilted a little towards the next axis
/// by `tilt` so vectors on one axis can still be told apart.
func axisVector(_ axis: Int, tilt: Float = 0) -> [Float] {
    var vector = [Float](repeating: 0, count: testDimension)
    vector[axis % testDimension] = 1
    vector[(axis + 1) % testDimension] = tilt
    let norm = (1 + tilt * tilt).squareRoot()
    return vector.map { $0 / norm }
}

/// Writes at `path` a knowledge store as schema `version` made it: the source old.md with one chunk,
/// `old`, of `text`; `sql` runs after the source is in and before the chunk is (to switch on what
/// its triggers should see). For the tests of each upgrade.
func writeOldStore(at path: String, version: Int, text: String, sql: String = "") throws {
    let old = try SQLiteConnection(path: path)
    for step in KnowledgeStoreSchema.migrations.prefix(version) { try old.execute(step) }
    try old.execute("""
        INSERT INTO meta VALUES ('dimension', '\(testDimension)');
        INSERT INTO sources(source, technology, content_hash, chunk_count, ingested_at) VALUES ('old.md', 'swift', 'h', 1, 0);
        \(sql)
        PRAGMA user_version = \(version);
        """)
    let insert = try old.prepare("""
        INSERT INTO chunks(id, source, heading, technology, text, ordinal, vector) VALUES ('old', 'old.md', '', 'swift', ?2, 0, ?1)
        """)
    try insert.bind(floats: axisVector(0), at: 1)
    try insert.bind(text, at: 2)
    try insert.run()
}

/// A chunk of `source` whose id is `id`, with `text` and a vector along `axis`.
func makeChunk(_ id: String, source: String = "guide.md", technology: String = "swift", text: String = "",
               heading: String = "", ordinal: Int = 0, axis: Int = 0) -> ChunkRecord {
    ChunkRecord(id: id, source: source, heading: heading, technology: technology,
                text: text.isEmpty ? "text of \(id)" : text, ordinal: ordinal, vector: axisVector(axis))
}

/// The ledger row for `source` holding `chunks`.
func makeRecord(_ source: String = "guide.md", technology: String = "swift", hash: String = "h1",
                chunks: [ChunkRecord]) -> SourceRecord {
    SourceRecord(source: source, technology: technology, contentHash: hash, chunkCount: chunks.count,
                 ingestedAt: Date(timeIntervalSince1970: 1_700_000_000))
}

/// Runs `body` with a store in a fresh folder; the path lets a test reopen it.
func withStore<Result>(_ body: (SQLiteKnowledgeStore, String) throws -> Result) throws -> Result {
    try withTemporaryDirectory { directory in
        // A folder that does not exist yet: the store must create it.
        let path = directory.appendingPathComponent("data/kb.sqlite").path
        let store = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
        return try body(store, path)
    }
}

extension SQLiteKnowledgeStore {
    /// Every chunk row as (rowid, id), ordered by rowid, read through a connection of the test's own.
    func rowsForTest() throws -> [String] {
        let connection = try SQLiteConnection(path: path, readOnly: true)
        let select = try connection.prepare("SELECT rowid, id FROM chunks ORDER BY rowid")
        var rows: [String] = []
        try select.forEachRow { rows.append("\(select.int(at: 0)):\(select.string(at: 1))") }
        return rows
    }

    /// Rows changed so far through the writing connection.
    var writerChangesForTest: Int { writer.withLock { $0.totalChanges } }
}
