import Foundation
@testable import SQLiteLedger
import Testing
import TestSupport

/// `rag_bm25` must rank exactly as FTS5's own `bm25` does, and `rag_bm25_top` must pick exactly
/// the rows `rag_bm25` ranks best, including after every kind of write: their in-memory row
/// lengths must never go stale. The writes go through the store's schema, whose
/// triggers count text changes.
@Suite struct RankingFunctionTests {
    /// A seeded corpus of rows of 1 to 120 words drawn unevenly from a small vocabulary, so some
    /// terms are in most rows and some in few.
    private static func randomText(_ generator: inout SeededGenerator, words: ClosedRange<Int>) -> String {
        let vocabulary = (0..<40).map { "w\($0)" }
        return (0..<Int.random(in: words, using: &generator)).map { _ in
            // The minimum of two draws favours the low-numbered words.
            vocabulary[min(Int.random(in: 0..<40, using: &generator), Int.random(in: 0..<40, using: &generator))]
        }.joined(separator: " ")
    }

    /// Both functions' scores for `match`, by rowid: ours, then the built-in's (negated).
    private static func scores(_ connection: SQLiteConnection, _ match: String) throws -> ([Int: Double], [Int: Double]) {
        let select = try connection.cached("""
            SELECT rowid, rag_bm25(chunks_fts, (\(SQLiteKnowledgeStore.textVersion)), 1.0, 0.5), -bm25(chunks_fts, 1.0, 0.5)
            FROM chunks_fts WHERE chunks_fts MATCH ?1
            """)
        try select.bind(match, at: 1)
        var ours: [Int: Double] = [:]
        var builtIn: [Int: Double] = [:]
        try select.forEachRow {
            ours[select.int(at: 0)] = select.double(at: 1)
            builtIn[select.int(at: 0)] = select.double(at: 2)
        }
        return (ours, builtIn)
    }

    private static let queries = ["\"w0\"", "\"w3\" OR \"w17\"", "\"w39\" OR \"w38\" OR \"w1\"", "\"w5\" OR \"w5\"", "\"w20\"",
                                  "\"w2\" \"w9\""]

    /// rag_bm25_top's rows for `match`, as the store reads them: (rowid, score), best first.
    private static func top(_ connection: SQLiteConnection, _ match: String, limit: Int) throws -> [(Int, Double)] {
        try SQLiteKnowledgeStore.bestKeywordRows(connection, match, limit: limit).map { ($0.rowid, $0.score) }
    }

    /// The best `limit` rows by rag_bm25, as SQL orders them: (rowid, score).
    private static func sortedByRagBM25(_ connection: SQLiteConnection, _ match: String, limit: Int) throws -> [(Int, Double)] {
        let select = try connection.cached("""
            SELECT rowid, rag_bm25(chunks_fts, (\(SQLiteKnowledgeStore.textVersion)), 1.0, 0.5) AS score
            FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY score DESC, rowid LIMIT ?2
            """)
        try select.bind(match, at: 1)
        try select.bind(limit, at: 2)
        var rows: [(Int, Double)] = []
        try select.forEachRow { rows.append((select.int(at: 0), select.double(at: 1))) }
        return rows
    }

    private static func expectAgreement(_ connection: SQLiteConnection, _ comment: String) throws {
        // rag_bm25_top takes OR queries only: the last query (an AND) is left out.
        for query in queries.dropLast() + ["\"w0\" OR \"absent\""] {
            for limit in [1, 7, 1000] {
                let expected = try sortedByRagBM25(connection, query, limit: limit)
                let found = try top(connection, query, limit: limit)
                // Bit for bit: the same sums in the same order, and ties broken the same way.
                #expect(found.map(\.0) == expected.map(\.0), "\(comment): \(query), limit \(limit)")
                #expect(found.map(\.1) == expected.map(\.1), "\(comment): \(query), limit \(limit)")
            }
        }
        #expect(try top(connection, "\"absent\"", limit: 5).isEmpty)
        for query in queries {
            let (ours, builtIn) = try scores(connection, query)
            #expect(!ours.isEmpty, "\(comment): \(query) matched nothing")
            #expect(Set(ours.keys) == Set(builtIn.keys))
            for (rowid, score) in builtIn {
                let mine = ours[rowid] ?? .nan
                #expect(abs(mine - score) <= 1e-12 * max(1, abs(score)),
                        "\(comment): \(query), row \(rowid): rag_bm25 \(mine), -bm25 \(score)")
            }
        }
    }

    /// A store at `path` with a chunk of random heading and text for each of `rowids` (nil: the
    /// next rowid), written through the knowledge store's schema; its writing connection, and the
    /// statement that inserts a chunk (rowid, id, heading, text).
    private static func filledStore(_ path: String, rowids: [Int?], seed: UInt64) throws -> (SQLiteConnection, SQLiteStatement) {
        let writer = try SQLiteConnection(path: path)
        try KnowledgeStoreSchema.prepare(writer, dimension: 1, path: path)
        try writer.execute("INSERT INTO sources(source, technology, content_hash, chunk_count, ingested_at) VALUES ('s', 't', 'h', 0, 0)")
        var generator = SeededGenerator(seed: seed)
        let insert = try writer.prepare("""
            INSERT INTO chunks(rowid, id, source, heading, technology, text, ordinal, vector)
            VALUES (?1, ?2, 's', ?3, 't', ?4, 0, x'00000000')
            """)
        try writer.transaction {
            for (index, rowid) in rowids.enumerated() {
                try insert.bind(rowid, at: 1)
                try insert.bind("c\(index)", at: 2)
                try insert.bind(randomText(&generator, words: 0...3), at: 3)
                try insert.bind(randomText(&generator, words: 1...120), at: 4)
                try insert.run()
            }
        }
        return (writer, insert)
    }

    @Test func agreesWithBuiltInBM25AcrossWrites() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let (writer, insert) = try Self.filledStore(path, rowids: Array(repeating: nil, count: 300), seed: 7)
            let reader = try SQLiteConnection(path: path, readOnly: true)
            try reader.registerRankingFunction()
            try Self.expectAgreement(reader, "fresh")
            // Second pass: every length now comes from the cache.
            try Self.expectAgreement(reader, "cached")

            // Another connection changes row lengths in place (same rowids), deletes rows and adds some.
            try writer.transaction {
                try writer.execute("UPDATE chunks SET text = text || ' w0 w0 w0 w1' WHERE rowid % 3 = 0")
                try writer.execute("DELETE FROM chunks WHERE rowid % 7 = 0")
            }
            try Self.expectAgreement(reader, "after another connection's update")
            try writer.execute("DELETE FROM chunks WHERE rowid = (SELECT max(rowid) FROM chunks)")
            // The deleted last rowid is reused by this insert, with a different length.
            try insert.bindNull(at: 1)
            try insert.bind("reused", at: 2)
            try insert.bind("", at: 3)
            try insert.bind("w0 w3 w17 w39 w38 w20", at: 4)
            try insert.run()
            try Self.expectAgreement(reader, "after a rowid was reused")

            // The reading connection's own writes count too.
            let both = try SQLiteConnection(path: path)
            try both.registerRankingFunction()
            try Self.expectAgreement(both, "second connection")
            try both.execute("UPDATE chunks SET text = 'w0' WHERE rowid % 5 = 1")
            try Self.expectAgreement(both, "after its own update")
        }
    }

    /// rag_bm25_top sums rows by rowid in arrays up to rowid 2^24 and in a hash table beyond
    /// (and below 0): a query whose rows fall on both sides must still pick exactly rag_bm25's best.
    @Test func agreesForRowidsBeyondItsArrays() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let edge = 1 << 24
            // Past 1,024 rows in the arrays, so that they (and the list of rows written) grow in the
            // middle of a query, from rows already summed.
            let rowids = Array(-40 ... -1) + Array(0..<1100) + Array(edge - 40 ..< edge + 40) + Array((1 << 40)..<(1 << 40) + 40)
            _ = try Self.filledStore(path, rowids: rowids, seed: 11)
            let reader = try SQLiteConnection(path: path, readOnly: true)
            try reader.registerRankingFunction()
            // The connection's first query: its arrays grow while it sums.
            let best = try Self.top(reader, "\"w0\" OR \"w1\"", limit: rowids.count)
            let expected = try Self.sortedByRagBM25(reader, "\"w0\" OR \"w1\"", limit: rowids.count)
            #expect(best.map(\.0) == expected.map(\.0))
            #expect(best.map(\.1) == expected.map(\.1))
            // The rows of the common words come from both the arrays and the table.
            #expect(best.contains { $0.0 < 0 } && best.contains { (1024..<edge).contains($0.0) } && best.contains { $0.0 >= edge })
            try Self.expectAgreement(reader, "rowids on both sides")
            try Self.expectAgreement(reader, "again, the arrays reused")
        }
    }

    @Test func registersOnAReadOnlyConnectionTwice() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let writer = try SQLiteConnection(path: path)
            try KnowledgeStoreSchema.prepare(writer, dimension: 1, path: path)
            let reader = try SQLiteConnection(path: path, readOnly: true)
            try reader.registerRankingFunction()
            try reader.registerRankingFunction()
            // An empty table: the function is known and simply finds nothing.
            let (ours, _) = try Self.scores(reader, "\"w0\"")
            #expect(ours.isEmpty)
        }
    }
}
