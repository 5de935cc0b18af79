import Foundation
@testable import SQLiteLedger
import Testing
import TestSupport

@Suite struct KeywordSearchTests {
    @Test func termsAreWordsLowercasedDistinctAndCapped() {
        #expect(FTSQuery.terms(in: "C++ AND \"quoted\" NEAR(x y) pre* -neg col:val Naïve naïve") ==
                ["c", "quoted", "near", "x", "y", "pre", "neg", "col", "val", "naïve"])
        #expect(FTSQuery.terms(in: "  🙂 ?! ").isEmpty)
        let many = (0..<200).map { "w\($0)" }.joined(separator: " ")
        #expect(FTSQuery.terms(in: many).count == FTSQuery.maximumTerms)
        #expect(FTSQuery.matchExpression(for: "Hello, world") == "\"hello\" OR \"world\"")
        #expect(FTSQuery.matchExpression(for: "...") == nil)
    }

    @Test func stopWordsAreDroppedUnlessTheyAreAllThereIs() {
        #expect(FTSQuery.terms(in: "What is the state of the art in tuning?") == ["what", "state", "art", "tuning"])
        #expect(FTSQuery.terms(in: "To be or not to be") == ["to", "be", "or", "not"])
    }

    private let documents = [
        makeChunk("install", source: "swift.md", text: "Install Swift on Linux with swiftly, then run swift build."),
        makeChunk("vacuum", source: "pg.md", technology: "postgres",
                  text: "VACUUM reclaims storage occupied by dead tuples; autovacuum tunes when tables are vacuumed."),
        makeChunk("persist", source: "redis.md", technology: "redis",
                  text: "Redis persistence: RDB snapshots and the AOF log. Tables are not a Redis concept."),
    ]

    private func withDocuments(_ body: (SQLiteKnowledgeStore) throws -> Void) throws {
        try withStore { store, _ in
            for source in ["swift.md", "pg.md", "redis.md"] {
                let chunks = documents.filter { $0.source == source }
                _ = try store.replaceSource(makeRecord(source, technology: chunks[0].technology, chunks: chunks),
                                            chunks: chunks)
            }
            try body(store)
        }
    }

    @Test func ranksTheObviousDocumentFirst() throws {
        try withDocuments { store in
            let found = try store.keywordSearch("How do I VACUUM my Postgres tables?", limit: 3, technology: nil)
            #expect(found.first?.id == "vacuum")
            #expect(found.allSatisfy { $0.score > 0 })
            #expect(zip(found, found.dropFirst()).allSatisfy { $0.score >= $1.score })
            #expect(try store.keywordSearch("swiftly", limit: 3, technology: nil).map(\.id) == ["install"])
            // Only stop words: searched as they are ("not" and "a" appear in one passage only).
            #expect(try store.keywordSearch("not a", limit: 3, technology: nil).map(\.id) == ["persist"])
        }
    }

    @Test func technologyFilterApplies() throws {
        try withDocuments { store throws in
            #expect(try store.keywordSearch("tables", limit: 5, technology: "redis").map(\.id) == ["persist"])
            #expect(try store.keywordSearch("vacuum", limit: 5, technology: "redis").isEmpty)
            #expect(try store.keywordSearch("tables", limit: 5, technology: "nothing").isEmpty)
            #expect(Set(try store.keywordSearch("tables", limit: 5, technology: nil).map(\.id)) == ["vacuum", "persist"])
            #expect(try store.keywordSearch("tables", limit: 1, technology: nil).count == 1)
            #expect(try store.keywordSearch("tables", limit: 0, technology: nil).isEmpty)
        }
    }

    @Test func hostileTextNeverFails() throws {
        let hostile = [
            "", "   ", "\"", "\"\"\"", "'; DROP TABLE chunks; --", "NEAR(", "NEAR(vacuum tables, 2)", "*", "vac*",
            "-vacuum", "text:vacuum", "heading:", "AND", "OR", "NOT", "vacuum AND OR NOT", "(vacuum", "vacuum)",
            "{text heading}: vacuum", "^vacuum", "+", "🙂🔥", "👩‍💻 swift", "\u{0}", "\\", "%_", "x\"y",
            String(repeating: "vacuum \"NEAR( ", count: 800), String(repeating: "é", count: 10_000),
        ]
        try withDocuments { store throws in
            for text in hostile {
                #expect(throws: Never.self) { _ = try store.keywordSearch(text, limit: 5, technology: nil) }
                #expect(throws: Never.self) { _ = try store.keywordSearch(text, limit: 5, technology: text) }
            }
            #expect(try store.keywordSearch("NEAR(vacuum tables, 2)", limit: 5, technology: nil).first?.id == "vacuum")
            #expect(try store.keywordSearch("🙂🔥", limit: 5, technology: nil).isEmpty)
            #expect(store.chunkCount() == 3)
        }
    }

    /// The unfiltered search (rag_bm25_top) and the filtered one (rag_bm25 and SQL's ORDER BY) take
    /// different paths: with one label on every chunk they must give the same answers. Many rows
    /// share words and scores, so ties and the limit are exercised too.
    @Test func filteredAndUnfilteredSearchesAgree() throws {
        try withStore { store, _ in
            var generator = SeededGenerator(seed: 11)
            let words = ["tables", "vacuum", "index", "query", "plan", "cost", "row", "page", "lock", "wal"]
            let chunks = (0..<120).map { row in
                let text = (0..<Int.random(in: 1...12, using: &generator))
                    .map { _ in words[Int.random(in: 0..<words.count, using: &generator)] }.joined(separator: " ")
                return makeChunk("c\(row)", text: text, heading: words[row % 3], ordinal: row)
            }
            _ = try store.replaceSource(makeRecord(chunks: chunks), chunks: chunks)
            for query in ["tables", "vacuum index", "the plan and its cost", "wal lock page row query", "absent", "tables absent"] {
                for limit in [1, 5, 50, 500] {
                    let unfiltered = try store.keywordSearch(query, limit: limit, technology: nil)
                    let filtered = try store.keywordSearch(query, limit: limit, technology: "swift")
                    #expect(unfiltered.map(\.id) == filtered.map(\.id), "\(query), limit \(limit)")
                    #expect(unfiltered.map(\.score) == filtered.map(\.score), "\(query), limit \(limit)")
                    #expect(unfiltered.count <= limit)
                }
            }
            #expect(try store.keywordSearch("tables", limit: 500, technology: nil).count
                    == chunks.filter { $0.text.contains("tables") || $0.heading == "tables" }.count)
        }
    }

    @Test func stemmingAndDiacriticsMatch() throws {
        try withStore { store, _ in
            let chunks = [makeChunk("cafe", text: "Le café est ouvert"), makeChunk("run", text: "She was running")]
            _ = try store.replaceSource(makeRecord(chunks: chunks), chunks: chunks)
            #expect(try store.keywordSearch("cafe", limit: 5, technology: nil).map(\.id) == ["cafe"])
            #expect(try store.keywordSearch("runs", limit: 5, technology: nil).map(\.id) == ["run"])
        }
    }
}
