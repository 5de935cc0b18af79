import Storage

/// What `compactKeywordIndex` did.
public enum KeywordIndexCompaction: Sendable, Equatable {
    /// Too little text changed since the last compaction for a rewrite of the index to pay.
    case notDue
    /// The index is one b-tree, after `steps` transactions that merged (0: it already was).
    case merged(steps: Int)
    /// Stopped when asked to after `steps` transactions; the index stays valid, and the next
    /// compaction goes on from there.
    case interrupted(steps: Int)
}

extension SQLiteKnowledgeStore {
    /// Leaf pages one merging transaction writes (4 KiB each) unless told otherwise: short
    /// transactions let another process's writes, and a cancellation, in between.
    public static let compactionStepPages = 2_000

    /// Merges the keyword index (FTS5) into a single b-tree, when due or (`whenDue` false) always.
    ///
    /// FTS5 adds a b-tree to the index at every commit that changed text, and merges them only four
    /// of a level at a time, so an ingest that wrote one file per transaction leaves a dozen or more
    /// of every size; a keyword search then looks each term up in every one. On SciFact (5,183 files,
    /// 10,958 passages) the search took 2.5 ms at p50 on the index an ingest left and 1.6 ms on the
    /// same index merged, which took 0.14 s. Merging rewrites the whole index, so it is due only once
    /// the text changed by an eighth of the passages stored (at least 256 changes) since the last
    /// time: an ingest adding a passage at a time pays for its rewrites a few times over at most.
    /// An index never merged (made by an earlier build) is due once it holds 256 passages.
    ///
    /// Each step is FTS5's `merge` command with a negative page count (which merges across levels,
    /// as `optimize` does, but a bounded amount at a time) in its own transaction; the index is one
    /// b-tree when a step changes nothing. `shouldStop` is asked before each step; `stepPages` is
    /// for tests, which need a merge of several steps.
    public func compactKeywordIndex(whenDue: Bool = true, stepPages: Int = compactionStepPages,
                                    shouldStop: () -> Bool = { false }) throws -> KeywordIndexCompaction {
        if whenDue {
            // From memory where the vectors are kept: a count(*) reads an index of every passage.
            let passages = chunkCount()
            guard try writer.withLock({ try Self.compactionIsDue(on: $0, passages: passages) }) else { return .notDue }
        }
        var steps = 0
        while !shouldStop() {
            let merged = try writer.withLock { connection in
                try connection.transaction {
                    let before = connection.totalChanges
                    try connection.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('merge', -\(max(1, stepPages)))")
                    // FTS5's documented test: a merge that found nothing to do changes fewer than two rows.
                    guard connection.totalChanges - before < 2 else { return false }
                    try connection.execute("""
                        INSERT OR REPLACE INTO meta(key, value)
                        SELECT 'text_version_compacted', value FROM meta WHERE key = 'text_version'
                        """)
                    return true
                }
            }
            if merged { return .merged(steps: steps) }
            steps += 1
        }
        return .interrupted(steps: steps)
    }

    /// Whether enough text changed since the last compaction, `passages` being stored (see
    /// `compactKeywordIndex`).
    private static func compactionIsDue(on connection: SQLiteConnection, passages: Int) throws -> Bool {
        let compacted = try connection.scalarInt("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'text_version_compacted'")
        let changed = (try connection.scalarInt("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'text_version'") ?? 0) - (compacted ?? 0)
        return changed >= max(256, passages / 8) || compacted == nil && passages >= 256
    }
}
