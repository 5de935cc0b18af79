import Foundation
@testable import SQLiteLedger
import Storage
import Testing
import TestSupport

/// `compactKeywordIndex`: the keyword index merged into one b-tree when enough text changed, with
/// every ranking unchanged.
@Suite struct KeywordIndexCompactionTests {
    /// Seeded passages of 5 to 40 words from a vocabulary in which a few words are common and most
    /// are rare, so that terms recur across the b-trees of many writes.
    private static func passage(_ generator: inout SeededGenerator) -> String {
        (0..<Int.random(in: 5...40, using: &generator)).map { _ in
            "w\(min(Int.random(in: 0..<300, using: &generator), Int.random(in: 0..<300, using: &generator)))"
        }.joined(separator: " ")
    }

    /// Writes `count` sources of one passage each, every one in its own transaction: FTS5 adds a
    /// b-tree to the index at each.
    private static func writeSources(_ count: Int, from first: Int = 0, into store: SQLiteKnowledgeStore,
                                     _ generator: inout SeededGenerator) throws {
        for number in first..<(first + count) {
            let chunk = makeChunk("c\(number)", source: "s\(number).md", text: passage(&generator), axis: number)
            _ = try store.replaceSource(makeRecord("s\(number).md", chunks: [chunk]), chunks: [chunk])
        }
    }

    /// Whether FTS5 would still merge anything, asked on a connection of the test's own: its
    /// documented test is a negative `merge` that changes fewer than two rows when the index is one
    /// b-tree (when it is not, this merges a page of it).
    private static func indexIsOneBTree(_ path: String) throws -> Bool {
        let connection = try SQLiteConnection(path: path)
        let before = connection.totalChanges
        try connection.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('merge', -1)")
        return connection.totalChanges - before < 2
    }

    /// The steps of a compaction that merged; nil for any other outcome.
    private static func mergeSteps(_ outcome: KeywordIndexCompaction) -> Int? {
        guard case .merged(let steps) = outcome else { return nil }
        return steps
    }

    private static let queries = ["w0", "w1 w7 w250", "w3 w299", "w12 w40 w41 w42", "w290"]

    /// Each query's ranking: ids and exact scores.
    private static func rankings(_ store: SQLiteKnowledgeStore) throws -> [[ScoredChunk]] {
        try queries.map { try store.keywordSearch($0, limit: 50, technology: nil) }
    }

    @Test func mergesTheIndexIntoOneBTreeWithEveryRankingUnchanged() throws {
        try withStore { store, path in
            var generator = SeededGenerator(seed: 29)
            try Self.writeSources(300, into: store, &generator)
            let before = try Self.rankings(store)
            #expect(before.allSatisfy { !$0.isEmpty })

            let outcome = try store.compactKeywordIndex()
            #expect((Self.mergeSteps(outcome) ?? 0) >= 1, "300 changes on 300 passages are due, got \(outcome)")
            #expect(try Self.indexIsOneBTree(path))
            #expect(try Self.rankings(store) == before)
            #expect(try store.integrityCheck() == "ok")
            // Nothing changed since: not due, and forced it finds the index merged already.
            #expect(try store.compactKeywordIndex() == .notDue)
            #expect(try store.compactKeywordIndex(whenDue: false) == .merged(steps: 0))
        }
    }

    @Test func isDueOnceTheTextChangedByAnEighthOfThePassagesAndAtLeast256Times() throws {
        try withStore { store, _ in
            var generator = SeededGenerator(seed: 8)
            // A small store: 255 changes are not enough, though they are all its passages.
            try Self.writeSources(255, into: store, &generator)
            #expect(try store.compactKeywordIndex() == .notDue)
            // A removal is a change too.
            #expect(try store.removeSource("s0.md") == 1)
            #expect(try store.compactKeywordIndex() != .notDue)

            // A larger one: 2,400 passages in one write, then one passage per write, each adding a
            // change and a passage. Due at the first write after which changes ≥ passages / 8.
            let bulk = (0..<2_400).map { makeChunk("bulk\($0)", source: "bulk.md", text: Self.passage(&generator), ordinal: $0) }
            _ = try store.replaceSource(makeRecord("bulk.md", chunks: bulk), chunks: bulk)
            #expect(try store.compactKeywordIndex() != .notDue)
            let stored = store.chunkCount()
            let due = try #require((1...stored).first { $0 >= max(256, (stored + $0) / 8) })
            #expect(due > 256)
            try Self.writeSources(due - 1, from: 1_000, into: store, &generator)
            #expect(try store.compactKeywordIndex() == .notDue)
            try Self.writeSources(1, from: 1_000 + due - 1, into: store, &generator)
            #expect(try store.compactKeywordIndex() != .notDue)
        }
    }

    @Test func anIndexNeverMergedIsDueOnceItHolds256Passages() throws {
        try withStore { store, path in
            var generator = SeededGenerator(seed: 5)
            try Self.writeSources(256, into: store, &generator)
            // As a store an earlier build made: few changes counted, and never merged.
            let connection = try SQLiteConnection(path: path)
            try connection.execute("UPDATE meta SET value = '10' WHERE key = 'text_version'")
            #expect(try store.compactKeywordIndex() != .notDue)
        }
    }

    @Test func aMergeOfManyStepsStopsBetweenThemAndGoesOnLater() throws {
        try withStore { store, path in
            var generator = SeededGenerator(seed: 13)
            try Self.writeSources(300, into: store, &generator)
            let before = try Self.rankings(store)
            var steps = 0
            let stopped = try store.compactKeywordIndex(stepPages: 1, shouldStop: {
                steps += 1
                return steps > 2
            })
            #expect(stopped == .interrupted(steps: 2))
            // Half merged: searches answer as before, and nothing is broken.
            #expect(try Self.rankings(store) == before)
            #expect(try store.integrityCheck() == "ok")
            let outcome = try store.compactKeywordIndex(stepPages: 1)
            #expect((Self.mergeSteps(outcome) ?? 0) >= 1, "an interrupted compaction is still due, got \(outcome)")
            #expect(try Self.indexIsOneBTree(path))
            #expect(try Self.rankings(store) == before)
        }
    }

    @Test func stopsWhenAskedAndGoesOnAtTheNextCompaction() throws {
        try withStore { store, path in
            var generator = SeededGenerator(seed: 3)
            try Self.writeSources(300, into: store, &generator)
            let before = try Self.rankings(store)
            #expect(try store.compactKeywordIndex(shouldStop: { true }) == .interrupted(steps: 0))
            #expect(try !Self.indexIsOneBTree(path))
            // Still due: an interrupted compaction records nothing.
            let outcome = try store.compactKeywordIndex()
            #expect((Self.mergeSteps(outcome) ?? 0) >= 1, "an interrupted compaction is still due, got \(outcome)")
            #expect(try Self.indexIsOneBTree(path))
            #expect(try Self.rankings(store) == before)
        }
    }
}
