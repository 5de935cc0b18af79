import Blocking
import Foundation
import Logging
import Storage

/// Query statistics kept in an SQLite file of their own, beside the knowledge base's.
///
/// Why not a table of the knowledge base's file: every query adds a count, and in WAL mode each
/// commit to a file empties the page cache of every other connection to it, so the next keyword
/// search read its pages from the file again (186 KB a query on SciFact at 16 HTTP clients).
///
/// Queries are merged by their `QueryNormalizer.normalize` form. Entries not asked within
/// `retention` are left out of every report however long they stay in the table; `track` deletes
/// them at most once a minute (of the dates it is given), which bounds the table without adding a
/// write to every read or a delete to every `track`.
public final class SQLiteQueryTracker: QueryTracker {
    /// Deleting expired rows more often than this buys nothing: reports already leave them out.
    static let purgeInterval: TimeInterval = 60

    /// "sqlite".
    public let backendName = "sqlite"
    /// How long an entry counts after it was last asked.
    public let retention: TimeInterval
    private let logger: Logger
    private let state: Locked<State>

    private struct State {
        let connection: SQLiteConnection
        /// The date given to the `track` call that last deleted expired rows.
        var lastPurge: Date?
    }

    /// Opens the statistics in the database at `path` (creating the file, its folder and the
    /// table if missing), counting entries for `retention` seconds after their last use. Counts
    /// still in the table of an older file, `movedFrom` (the knowledge base's, where they were
    /// kept before), are moved here first.
    public init(path: String, movedFrom former: String? = nil, retention: TimeInterval = 30 * 86400,
                logger: Logger) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let connection = try SQLiteConnection(path: path)
        // One table with IF NOT EXISTS: no versioned schema to migrate.
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS query_stats (
                normalized TEXT PRIMARY KEY,
                query TEXT NOT NULL,
                count INTEGER NOT NULL,
                last_accessed REAL NOT NULL,
                technology_filter TEXT
            );
            CREATE INDEX IF NOT EXISTS query_stats_by_last_accessed ON query_stats(last_accessed);
            """)
        if let former, FileManager.default.fileExists(atPath: former) {
            do {
                let moved = try Self.moveCounts(from: former, into: connection, logger: logger)
                if moved > 0 { logger.info("query statistics moved to their own file", metadata: ["rag.tracker.queries": "\(moved)"]) }
            } catch {
                // The old counts stay where they were, unused; counting goes on here.
                logger.warning("query statistics could not be moved to their own file", metadata: [
                    "rag.tracker.from": "\(former)", "rag.tracker.error": "\(error)",
                ])
            }
        }
        self.retention = retention
        self.logger = logger
        self.state = Locked(State(connection: connection))
    }

    /// Adds the rows of `former`'s `query_stats` table to `connection`'s and drops that table;
    /// returns how many rows there were (0 when there was no such table).
    ///
    /// Looked for without a lock first: once moved, openings never write to `former`. The move is
    /// one transaction over both files, whose write locks it takes at its start, so that two
    /// processes opening the data folder at once move the rows once. Rows of a query counted in
    /// both files are merged (counts added, the later use's display form and filter kept): an
    /// older version still running on the data folder re-creates the old table and goes on
    /// counting there, and those counts are moved at the next opening, not lost. In WAL mode a
    /// transaction over two files is atomic in each, not across them: a crash between the two
    /// commits would count the moved rows twice at the next opening.
    static func moveCounts(from former: String, into connection: SQLiteConnection, logger: Logger) throws -> Int {
        let attach = try connection.prepare("ATTACH DATABASE ?1 AS former")
        try attach.bind(former, at: 1)
        try attach.run()
        defer {
            do {
                try connection.execute("DETACH DATABASE former")
            } catch {
                // Left attached, the old file stays open on this connection: harmless, but worth a trace.
                logger.debug("the knowledge base's file stayed attached to the statistics", metadata: ["rag.tracker.error": "\(error)"])
            }
        }
        let formerTable = "SELECT count(*) FROM former.sqlite_master WHERE type = 'table' AND name = 'query_stats'"
        guard try connection.scalarInt(formerTable) ?? 0 > 0 else { return 0 }
        return try connection.transaction {
            // Another process may have moved them since.
            guard try connection.scalarInt(formerTable) ?? 0 > 0 else { return 0 }
            let rows = try connection.scalarInt("SELECT count(*) FROM former.query_stats") ?? 0
            // "WHERE true": without a WHERE, SQLite would read ON CONFLICT as part of the SELECT's join.
            try connection.execute("""
                INSERT INTO main.query_stats(normalized, query, count, last_accessed, technology_filter)
                    SELECT normalized, query, count, last_accessed, technology_filter FROM former.query_stats WHERE true
                    ON CONFLICT(normalized) DO UPDATE SET
                        count = count + excluded.count,
                        query = CASE WHEN excluded.last_accessed >= last_accessed THEN excluded.query ELSE query END,
                        technology_filter = CASE WHEN excluded.last_accessed >= last_accessed
                            THEN excluded.technology_filter ELSE technology_filter END,
                        last_accessed = max(last_accessed, excluded.last_accessed);
                DROP TABLE former.query_stats;
                """)
            return rows
        }
    }

    /// Records one use of `query` at `date`; blank queries are ignored.
    ///
    /// The display form and technology filter become those of this use unless the entry was
    /// last used later (dates may arrive out of order). An entry that had expired starts again at 1.
    public func track(query: String, technologyFilter: String?, at date: Date) throws {
        let normalized = QueryNormalizer.normalize(query)
        guard !normalized.isEmpty else { return }
        let cutoff = date.timeIntervalSince1970 - retention
        try state.withLock { state in
            let upsert = try state.connection.cached("""
                INSERT INTO query_stats(normalized, query, count, last_accessed, technology_filter)
                VALUES (?1, ?2, 1, ?3, ?4)
                ON CONFLICT(normalized) DO UPDATE SET
                    count = CASE WHEN last_accessed < ?5 THEN 1 ELSE count + 1 END,
                    query = CASE WHEN excluded.last_accessed >= last_accessed THEN excluded.query ELSE query END,
                    technology_filter = CASE WHEN excluded.last_accessed >= last_accessed
                        THEN excluded.technology_filter ELSE technology_filter END,
                    last_accessed = max(last_accessed, excluded.last_accessed)
                """)
            try upsert.bind(normalized, at: 1)
            try upsert.bind(QueryNormalizer.displayForm(query), at: 2)
            try upsert.bind(date.timeIntervalSince1970, at: 3)
            try upsert.bind(technologyFilter, at: 4)
            try upsert.bind(cutoff, at: 5)
            try upsert.run()

            if state.lastPurge.map({ abs(date.timeIntervalSince($0)) >= Self.purgeInterval }) ?? true {
                let purge = try state.connection.cached("DELETE FROM query_stats WHERE last_accessed < ?1")
                try purge.bind(cutoff, at: 1)
                try purge.run()
                state.lastPurge = date
                let purged = state.connection.changes
                if purged > 0 { logger.debug("expired queries deleted", metadata: ["rag.tracker.deleted": "\(purged)"]) }
            }
        }
    }

    /// The `limit` most asked queries not expired at `now`: most asked first, then most recent.
    public func topQueries(limit: Int, now: Date) throws -> [TrackedQuery] {
        guard limit > 0 else { return [] }
        return try state.withLock { state in
            // normalized last: a total order, so equal counts and dates still list reproducibly.
            let select = try state.connection.cached("""
                SELECT query, count, last_accessed, technology_filter FROM query_stats
                WHERE last_accessed >= ?1
                ORDER BY count DESC, last_accessed DESC, normalized
                LIMIT ?2
                """)
            try select.bind(now.timeIntervalSince1970 - retention, at: 1)
            try select.bind(limit, at: 2)
            var queries: [TrackedQuery] = []
            try select.forEachRow {
                queries.append(TrackedQuery(query: select.string(at: 0), count: select.int(at: 1),
                                            lastAccessed: Date(timeIntervalSince1970: select.double(at: 2)),
                                            technologyFilter: select.optionalString(at: 3)))
            }
            return queries
        }
    }

    public func reportTopQueries(limit: Int, now: Date) async throws -> [TrackedQuery] {
        try await BlockingExecutor.run { try self.topQueries(limit: limit, now: now) }
    }

    public func reportTotals(now: Date) async throws -> (unique: Int, total: Int) {
        try await BlockingExecutor.run { try self.totals(now: now) }
    }

    /// Unique queries and the sum of their counts, not expired at `now`.
    public func totals(now: Date) throws -> (unique: Int, total: Int) {
        try state.withLock { state in
            let select = try state.connection.cached("""
                SELECT count(*), coalesce(sum(count), 0) FROM query_stats WHERE last_accessed >= ?1
                """)
            try select.bind(now.timeIntervalSince1970 - retention, at: 1)
            defer { select.reset() }
            guard try select.step() else { return (0, 0) }
            return (select.int(at: 0), select.int(at: 1))
        }
    }
}
