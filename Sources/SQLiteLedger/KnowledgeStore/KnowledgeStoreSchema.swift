/// The knowledge store's tables, and their creation and versioning through `PRAGMA user_version`.
public enum KnowledgeStoreSchema {
    /// The schema version this build writes and reads.
    static let version = 7

    /// Version 1. `chunks` names its rowid so the FTS5 external-content table can point at it
    /// (`content_rowid`) and stays valid across VACUUM. The FTS index holds only the tokens, not a
    /// second copy of the text; triggers keep it in step with every insert, delete and text change,
    /// including deletes cascading from `sources`. Vectors are blobs of native-order float32.
    static let version1 = """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE sources (
            source TEXT PRIMARY KEY,
            technology TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            chunk_count INTEGER NOT NULL,
            ingested_at REAL NOT NULL
        );
        CREATE TABLE chunks (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL REFERENCES sources(source) ON DELETE CASCADE,
            heading TEXT NOT NULL,
            technology TEXT NOT NULL,
            text TEXT NOT NULL,
            ordinal INTEGER NOT NULL,
            vector BLOB NOT NULL
        );
        CREATE INDEX chunks_by_source ON chunks(source);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, heading,
            content = 'chunks', content_rowid = 'rowid',
            tokenize = 'porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.rowid, new.text, new.heading);
        END;
        CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
                VALUES ('delete', old.rowid, old.text, old.heading);
        END;
        -- Only text changes touch the index: relabelling a technology leaves it alone.
        CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text, heading ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
                VALUES ('delete', old.rowid, old.text, old.heading);
            INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.rowid, new.text, new.heading);
        END;
        """

    /// Version 2: `meta.text_version` counts every change to the indexed text, by any process, in
    /// the same transaction as the change. Keyword search passes it to `rag_bm25`, which keeps
    /// row lengths in memory only while it stays the same (query statistics, kept in this file by
    /// older versions, do not count as changes).
    static let version2 = """
        INSERT OR IGNORE INTO meta(key, value) VALUES ('text_version', '0');
        DROP TRIGGER chunks_fts_insert;
        DROP TRIGGER chunks_fts_delete;
        DROP TRIGGER chunks_fts_update;
        CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.rowid, new.text, new.heading);
            UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'text_version';
        END;
        CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
                VALUES ('delete', old.rowid, old.text, old.heading);
            UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'text_version';
        END;
        CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text, heading ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
                VALUES ('delete', old.rowid, old.text, old.heading);
            INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.rowid, new.text, new.heading);
            UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'text_version';
        END;
        """

    /// Version 3: the vector outbox, for a remote vector store (Chroma). Once a data folder is bound
    /// to one (`meta.vector_target` set, `meta.vector_outbox` = 'on'), every change to a chunk's
    /// vector or filterable metadata, by any process and whatever its configuration, leaves a row
    /// here in the same transaction; the process that serves the remote store sends the rows in
    /// order and deletes them once the store has them. So a write that reached SQLite but not the
    /// remote store is never forgotten, and the two cannot drift apart.
    static let version3 = """
        CREATE TABLE vector_outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            chunk_id TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('upsert', 'delete'))
        );
        INSERT OR IGNORE INTO meta(key, value) VALUES ('vector_outbox', 'off');
        """ + outboxTriggers

    /// Version 4: the chunk journal. Each process holds every vector in memory, so it must learn of
    /// the chunks other processes sharing the file insert, delete or relabel. Every such change, by
    /// any process, leaves the chunk's id here in the same transaction (a sequence number that only
    /// grows); a process applies the entries after the last one it has seen (see
    /// `SQLiteKnowledgeStore+Sync`). Writers trim it to its newest `journalKeep` entries; a process
    /// that has fallen further behind reloads every vector instead.
    static let version4 = """
        CREATE TABLE chunk_journal (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            chunk_id TEXT NOT NULL
        );
        CREATE TRIGGER chunks_journal_insert AFTER INSERT ON chunks BEGIN
            INSERT INTO chunk_journal(chunk_id) VALUES (new.id);
        END;
        CREATE TRIGGER chunks_journal_delete AFTER DELETE ON chunks BEGIN
            INSERT INTO chunk_journal(chunk_id) VALUES (old.id);
        END;
        CREATE TRIGGER chunks_journal_update AFTER UPDATE OF vector, technology ON chunks BEGIN
            INSERT INTO chunk_journal(chunk_id) VALUES (new.id);
        END;
        """

    /// Version 5: the outbox also carries sources. After the chunks of each source a write changed,
    /// the write leaves one `source` entry naming the source (`chunk_id` holds its path), so the
    /// remote store's manifest of sources changes only once the source's passages are there, in
    /// the same order, by whatever process sends them. The table is made again only to widen its
    /// CHECK; its rows and sequence carry over.
    static let version5 = """
        DROP TRIGGER chunks_outbox_insert;
        DROP TRIGGER chunks_outbox_delete;
        DROP TRIGGER chunks_outbox_update;
        ALTER TABLE vector_outbox RENAME TO vector_outbox_v4;
        CREATE TABLE vector_outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            chunk_id TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('upsert', 'delete', 'source'))
        );
        INSERT INTO vector_outbox(seq, chunk_id, op) SELECT seq, chunk_id, op FROM vector_outbox_v4;
        DROP TABLE vector_outbox_v4;
        CREATE INDEX vector_outbox_by_subject ON vector_outbox(chunk_id);
        """ + outboxTriggers

    /// Version 6: pages. A passage of a paged document (PDF) records its page, and the source its
    /// page count; both are NULL for every other document. A page is metadata the remote store
    /// returns, so a passage whose page changes (a page inserted before it) is sent again; and the
    /// journal carries the change, so other processes drop the answers they cached with the old page.
    static let version6 = """
        ALTER TABLE chunks ADD COLUMN page INTEGER;
        ALTER TABLE sources ADD COLUMN pages INTEGER;
        DROP TRIGGER chunks_journal_update;
        CREATE TRIGGER chunks_journal_update AFTER UPDATE OF vector, technology, page ON chunks BEGIN
            INSERT INTO chunk_journal(chunk_id) VALUES (new.id);
        END;
        DROP TRIGGER chunks_outbox_update;
        CREATE TRIGGER chunks_outbox_update AFTER UPDATE OF vector, technology, source, page ON chunks
            WHEN (SELECT value FROM meta WHERE key = 'vector_outbox') = 'on' BEGIN
            INSERT INTO vector_outbox(chunk_id, op) VALUES (new.id, 'upsert');
        END;
        """

    /// Version 7: the folders people ingested, kept so that `serve --watch` knows what to keep in
    /// sync. Paths are this machine's, so the table never reaches the remote store or the journal.
    /// `confined` says the folder came through a client of the server, whose files must stay inside
    /// the allowed folders; the command line's own user reads anywhere.
    static let version7 = """
        CREATE TABLE folders (
            path TEXT PRIMARY KEY,
            technology TEXT NOT NULL,
            confined INTEGER NOT NULL,
            recorded_at REAL NOT NULL
        );
        """

    /// The triggers that fill the outbox once it is on: every change to a chunk's vector or
    /// filterable metadata, by any process.
    static let outboxTriggers = """
        CREATE TRIGGER chunks_outbox_insert AFTER INSERT ON chunks
            WHEN (SELECT value FROM meta WHERE key = 'vector_outbox') = 'on' BEGIN
            INSERT INTO vector_outbox(chunk_id, op) VALUES (new.id, 'upsert');
        END;
        CREATE TRIGGER chunks_outbox_delete AFTER DELETE ON chunks
            WHEN (SELECT value FROM meta WHERE key = 'vector_outbox') = 'on' BEGIN
            INSERT INTO vector_outbox(chunk_id, op) VALUES (old.id, 'delete');
        END;
        CREATE TRIGGER chunks_outbox_update AFTER UPDATE OF vector, technology, source ON chunks
            WHEN (SELECT value FROM meta WHERE key = 'vector_outbox') = 'on' BEGIN
            INSERT INTO vector_outbox(chunk_id, op) VALUES (new.id, 'upsert');
        END;
        """

    /// Journal entries kept by the trim after each write: enough that a process idle through a
    /// large ingest by another catches up entry by entry.
    public static let journalKeep = 200_000

    /// The steps from each version to the next: `migrations[n]` takes a database from version n to n + 1.
    static let migrations = [version1, version2, version3, version4, version5, version6, version7]

    /// Creates the schema in a new database, brings an older one up to date, or checks an existing
    /// one: its version must not be newer and its vector dimension must match. `path` only serves the error messages.
    static func prepare(_ connection: SQLiteConnection, dimension: Int, path: String) throws {
        // The version is read inside the write transaction so two processes opening a new file
        // at once cannot both decide to create the tables.
        try connection.transaction {
            let found = try connection.scalarInt("PRAGMA user_version") ?? 0
            if found > version {
                throw KnowledgeStoreError.newerSchema(version: found, supported: version, path: path)
            }
            for step in migrations[found..<version] {
                try connection.execute(step)
            }
            if found == 0 {
                let insert = try connection.cached("INSERT INTO meta(key, value) VALUES ('dimension', ?1)")
                try insert.bind(String(dimension), at: 1)
                try insert.run()
            }
            if found < version { try connection.execute("PRAGMA user_version = \(version)") }
            // Tells this database's vector snapshot files from a copy's or a predecessor's.
            try connection.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('store_id', lower(hex(randomblob(16))))")
        }
        guard let stored = try metaValue("dimension", on: connection).flatMap(Int.init) else {
            throw KnowledgeStoreError.missingDimension(path: path)
        }
        guard stored == dimension else {
            throw KnowledgeStoreError.dimensionMismatch(stored: stored, loaded: dimension, path: path)
        }
    }

    /// The database's random identity, recorded in the vector snapshot files written from it
    /// (`prepare` sets it, so it is there once the store has opened its writer).
    static func storeID(on connection: SQLiteConnection) throws -> String {
        try metaValue("store_id", on: connection) ?? ""
    }

    /// The `meta` table's value for `key`; nil when it has none.
    static func metaValue(_ key: String, on connection: SQLiteConnection) throws -> String? {
        let select = try connection.cached("SELECT value FROM meta WHERE key = ?1")
        defer { select.reset() }
        try select.bind(key, at: 1)
        return try select.step() ? select.string(at: 0) : nil
    }

    /// Sets `key` to `value` in the `meta` table.
    static func setMetaValue(_ key: String, to value: String, on connection: SQLiteConnection) throws {
        let insert = try connection.cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")
        defer { insert.reset() }
        try insert.bind(key, at: 1)
        try insert.bind(value, at: 2)
        try insert.run()
    }
}
