import Blocking
import CSQLite
import EmbeddedVectors
import Foundation
import Logging
import Storage

/// The knowledge base on disk: one SQLite file with the sources, their chunks (text, metadata,
/// float32 vector) and an FTS5 index for keyword search, plus every vector in a `VectorIndex` for
/// semantic search: mapped from a snapshot file beside the database once the store is large (see
/// `SQLiteKnowledgeStore+Snapshot`), with the changes since held in memory.
///
/// Synchronous and thread-safe; calls block (on SQLite's locks, on disk), so callers run them on
/// their own threads. Writes go through one connection and reads through another, so a long ingest
/// transaction does not hold up searches (WAL lets the reader see the last commit); semantic
/// search reads no SQLite at all, so the two searches of a hybrid query do not hold up each other.
/// The in-memory vectors follow each write once it has committed, and the writes of other
/// processes sharing the file through its chunk journal (see `SQLiteKnowledgeStore+Sync`).
public final class SQLiteKnowledgeStore: Sendable {
    /// The database file.
    public let path: String
    /// Number of floats in every vector.
    public let dimension: Int
    let logger: Logger
    /// Every write, and the FTS integrity check (an INSERT command), go through this connection.
    let writer: Locked<SQLiteConnection>
    /// Reads that must not wait for a write transaction.
    let reader: Locked<SQLiteConnection>
    /// Lock order: `writer` before `vectors`, never the reverse.
    let vectors: Locked<VectorIndex>
    /// Answers "has another connection committed?" without waiting for a search or a write.
    let watcher: Locked<SQLiteConnection>
    /// How far into the chunk journal the vectors in memory are. Taken last, after any other lock.
    let journal: Locked<JournalPosition>
    /// Journal entries each write leaves behind it (`KnowledgeStoreSchema.journalKeep`; tests use fewer).
    let journalKeep: Int
    /// This database's `meta.store_id`, recorded in its snapshot files.
    let storeID: String
    let snapshotPolicy: VectorSnapshotPolicy
    /// False when another store searches the vectors (Chroma): none are held in memory or written
    /// to a snapshot file, and counts and labels come from SQLite. The float32 vectors stay in the
    /// chunks table either way (the outbox sends them; an unchanged chunk reuses its own).
    public let keepsVectorIndex: Bool
    /// The model this process's vectors come from, once `adoptEmbeddingModel` found it recorded:
    /// writes and catch-ups check the record still names it (see `checkEmbeddingModel`).
    let adoptedModel = Locked<String?>(nil)
    /// Snapshot files are written one at a time, in the background on the blocking executor; this
    /// says whether a write is queued or running (see `SnapshotTurn`).
    let snapshotTurn = SnapshotTurn()
    /// The executor thread a snapshot write takes, added for this store (nil when it keeps no
    /// vectors): a write lasts seconds on a large store, and the SQLite reads of queries must not
    /// wait behind it.
    private let snapshotThread: ThreadReservation?

    /// The reading connection's page cache, in KiB (SQLite's default is 2 MiB). Keyword searches
    /// and the passages of answers read through it; at the default, a busy server read most pages
    /// of a keyword search from the file again for every query. Filled only as pages are read.
    static let readerCacheKibibytes = 32 * 1024

    /// Opens the store at `path` (creating the file and its folder if missing) for vectors of
    /// `dimension` floats: maps the snapshot file of its vectors when there is a usable one,
    /// otherwise loads every stored vector into memory (and writes the file in the background
    /// when `snapshotPolicy` says the store is large enough). With `keepsVectorIndex` false it
    /// does neither: semantic search is another store's.
    ///
    /// Throws `KnowledgeStoreError.dimensionMismatch` when the file was built for another dimension.
    public init(path: String, dimension: Int, logger: Logger,
                journalKeep: Int = KnowledgeStoreSchema.journalKeep,
                snapshotPolicy: VectorSnapshotPolicy = VectorSnapshotPolicy(), keepsVectorIndex: Bool = true) throws {
        precondition(dimension > 0, "a knowledge store needs a positive vector dimension")
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let writer = try SQLiteConnection(path: path)
        try KnowledgeStoreSchema.prepare(writer, dimension: dimension, path: path)
        // Opened after the writer, which has created the file and switched it to WAL.
        let reader = try SQLiteConnection(path: path, readOnly: true)
        try reader.registerRankingFunction()
        try reader.execute("PRAGMA cache_size = -\(Self.readerCacheKibibytes)")
        let watcher = try SQLiteConnection(path: path, readOnly: true)
        let storeID = try KnowledgeStoreSchema.storeID(on: reader)
        let snapshotPath = Self.snapshotPath(for: path)
        Self.removeAbandonedSnapshots(beside: snapshotPath)
        // One read transaction, so the journal position says exactly which changes the vectors include.
        let (index, seen, origin) = try reader.readTransaction {
            guard keepsVectorIndex else {
                return (VectorIndex(dimension: dimension), try Self.lastJournalEntry(on: reader), VectorOrigin.notKept)
            }
            return try Self.openVectors(on: reader, dimension: dimension, storeID: storeID, snapshotPath: snapshotPath)
        }
        self.path = path
        self.dimension = dimension
        self.logger = logger
        self.writer = Locked(writer)
        self.reader = Locked(reader)
        self.vectors = Locked(index)
        self.watcher = Locked(watcher)
        self.journal = Locked(JournalPosition(seen: seen))
        self.journalKeep = journalKeep
        self.storeID = storeID
        self.snapshotPolicy = snapshotPolicy
        self.keepsVectorIndex = keepsVectorIndex
        snapshotThread = keepsVectorIndex ? BlockingExecutor.reserve(threads: 1) : nil
        logger.debug("knowledge store opened", metadata: [
            "rag.store.path": "\(path)", "rag.store.chunks": "\(index.count)",
            "rag.store.vector_bytes": "\(index.memoryBytes)", "rag.store.vectors_from": "\(origin)",
        ])
        scheduleSnapshotIfDue()
    }

    static func loadVectors(from connection: SQLiteConnection, dimension: Int) throws -> VectorIndex {
        let index = VectorIndex(dimension: dimension)
        index.reserveCapacity(try connection.scalarInt("SELECT count(*) FROM chunks") ?? 0)
        let expectedBytes = dimension * MemoryLayout<Float>.size
        // Chunks copied from Chroma hold no vector here (length 0): they are not searched here.
        let select = try connection.prepare("SELECT id, technology, vector FROM chunks WHERE length(vector) > 0 ORDER BY rowid")
        try select.forEachRow {
            let id = select.string(at: 0)
            let bytes = select.byteCount(at: 2)
            guard bytes == expectedBytes else {
                throw KnowledgeStoreError.corruptVector(chunk: id, bytes: bytes, expected: expectedBytes)
            }
            index.upsert(id: id, technology: select.string(at: 1), vector: select.floats(at: 2))
        }
        return index
    }

    // MARK: sources

    /// The ledger entry for `source`, nil when it was never ingested (or has been removed).
    public func source(_ source: String) throws -> SourceRecord? {
        try reader.withLock { connection in
            let select = try connection.cached("""
                SELECT source, technology, content_hash, chunk_count, ingested_at, pages FROM sources WHERE source = ?1
                """)
            try select.bind(source, at: 1)
            defer { select.reset() }
            return try select.step() ? Self.sourceRecord(from: select) : nil
        }
    }

    /// Every source, ordered by name.
    public func listSources() throws -> [SourceRecord] {
        try reader.withLock { connection in
            let select = try connection.cached("""
                SELECT source, technology, content_hash, chunk_count, ingested_at, pages FROM sources ORDER BY source
                """)
            var records: [SourceRecord] = []
            try select.forEachRow { records.append(Self.sourceRecord(from: select)) }
            return records
        }
    }

    /// The distinct technology labels of the stored sources, sorted.
    func technologies() throws -> [String] {
        try reader.withLock { connection in
            let select = try connection.cached("SELECT DISTINCT technology FROM sources ORDER BY technology")
            var labels: [String] = []
            try select.forEachRow { labels.append(select.string(at: 0)) }
            return labels
        }
    }

    /// The record in the six columns of `row` from `first` on: source, technology, content_hash,
    /// chunk_count, ingested_at, pages.
    static func sourceRecord(from row: SQLiteStatement, at first: Int32 = 0) -> SourceRecord {
        SourceRecord(source: row.string(at: first), technology: row.string(at: first + 1),
                     contentHash: row.string(at: first + 2), chunkCount: row.int(at: first + 3),
                     ingestedAt: Date(timeIntervalSince1970: row.double(at: first + 4)),
                     pages: row.optionalInt(at: first + 5))
    }

    // MARK: chunks

    /// Number of chunks stored.
    public func chunkCount() -> Int {
        guard keepsVectorIndex else {
            return (try? reader.withLock { try $0.scalarInt("SELECT count(*) FROM chunks") }) ?? 0
        }
        return vectors.withLock { $0.count }
    }

    /// Bytes the vectors take, in memory and mapped (the mapped part is counted once for every
    /// process that maps the same file).
    public var vectorMemoryBytes: Int {
        vectors.withLock { $0.memoryBytes }
    }

    /// Of `vectorMemoryBytes`, the bytes of the mapped snapshot file.
    public var vectorMappedBytes: Int {
        vectors.withLock { $0.mappedBytes }
    }

    /// The stored vectors of those of `ids` that exist: what lets an ingest skip embedding
    /// unchanged chunks again.
    public func existingVectors(ids: [String]) throws -> [String: [Float]] {
        try reader.withLock { connection in
            let select = try connection.cached("SELECT vector FROM chunks WHERE id = ?1 AND length(vector) > 0")
            var found: [String: [Float]] = [:]
            for id in ids where found[id] == nil {
                try select.bind(id, at: 1)
                try select.forEachRow { found[id] = select.floats(at: 0) }
            }
            return found
        }
    }

    /// Which of `ids` the vectors in memory hold (what semantic search can find right now); for tests.
    func idsInMemory(_ ids: [String]) -> Set<String> {
        vectors.withLock { index in Set(ids.filter(index.contains)) }
    }

    /// The stored chunks among `ids` (missing ids are left out), by id.
    public func chunks(ids: [String]) throws -> [String: StoredChunk] {
        try reader.withLock { connection in
            let select = try connection.cached("SELECT id, source, heading, technology, text, page FROM chunks WHERE id = ?1")
            var found: [String: StoredChunk] = [:]
            for id in ids where found[id] == nil {
                try select.bind(id, at: 1)
                try select.forEachRow {
                    found[id] = StoredChunk(id: select.string(at: 0), source: select.string(at: 1),
                                            heading: select.string(at: 2), technology: select.string(at: 3),
                                            text: select.string(at: 4), page: select.optionalInt(at: 5))
                }
            }
            return found
        }
    }

    /// Every stored chunk's id with its source: one read of the table, for callers that need to
    /// map many ranked chunks to their sources (an evaluation judging whole documents).
    public func sourcesByChunk() throws -> [String: String] {
        try reader.withLock { connection in
            let select = try connection.cached("SELECT id, source FROM chunks")
            var sources: [String: String] = [:]
            try select.forEachRow { sources[select.string(at: 0)] = select.string(at: 1) }
            return sources
        }
    }

    // MARK: health

    /// Runs a trivial query on the reading connection: throws when the database cannot be read.
    public func ping() throws {
        _ = try reader.withLock { try $0.scalarInt("SELECT 1") }
    }

    /// SQLite's `PRAGMA integrity_check` report followed by the FTS index's check against the
    /// chunks: "ok" when both are fine, otherwise the problems found, one per line.
    ///
    /// Reads the whole file: what the tests check after crashes and concurrent writers.
    func integrityCheck() throws -> String {
        // A connection of its own, so the long scan holds up neither searches nor writes.
        let connection = try SQLiteConnection(path: path, readOnly: true)
        let check = try connection.prepare("PRAGMA integrity_check")
        var problems: [String] = []
        try check.forEachRow {
            let line = check.string(at: 0)
            if line != "ok" { problems.append(line) }
        }
        if let fts = try ftsIntegrityProblem() { problems.append("chunks_fts: \(fts)") }
        return problems.isEmpty ? "ok" : problems.joined(separator: "\n")
    }

    /// Nil when the FTS index matches the chunks table, otherwise SQLite's description of the mismatch.
    func ftsIntegrityProblem() throws -> String? {
        try writer.withLock { connection in
            do {
                // rank = 1 compares the index with the content table too; without it SQLite 3.40
                // only checks the index's internal structure and misses a missed delete or insert.
                try connection.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
                return nil
            } catch let error as SQLiteError where error.primaryCode == SQLITE_CORRUPT {
                return error.message
            }
        }
    }
}
