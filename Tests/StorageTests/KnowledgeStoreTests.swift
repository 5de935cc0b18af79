import Foundation
@testable import SQLiteLedger
@testable import Storage
import Testing
import TestSupport

@Suite struct KnowledgeStoreTests {
    private let three = [makeChunk("a", axis: 0), makeChunk("b", axis: 1), makeChunk("c", axis: 2)]

    @Test func replaceSourceAddsChunks() throws {
        try withStore { store, _ in
            let record = makeRecord(chunks: three)
            #expect(try store.replaceSource(record, chunks: three) == ReplaceOutcome(added: 3, removed: 0, unchanged: 0))
            #expect(store.chunkCount() == 3)
            #expect(try store.source("guide.md") == record)
            #expect(try store.source("other.md") == nil)
            #expect(try store.listSources() == [record])
            #expect(try store.technologies() == ["swift"])

            let stored = try store.chunks(ids: ["b", "missing", "a"])
            #expect(stored.count == 2)
            #expect(stored["b"] == StoredChunk(id: "b", source: "guide.md", heading: "", technology: "swift",
                                               text: "text of b"))
            let vectors = try store.existingVectors(ids: ["a", "zzz", "c"])
            #expect(vectors == ["a": axisVector(0), "c": axisVector(2)])
            #expect(try store.semanticSearch(vector: axisVector(1), limit: 1, technology: nil).map(\.id) == ["b"])
            #expect(try store.integrityCheck() == "ok")
        }
    }

    @Test func sameChunksAgainWriteNoChunk() throws {
        try withStore { store, _ in
            _ = try store.replaceSource(makeRecord(chunks: three), chunks: three)
            let rowsBefore = try store.rowsForTest()
            let changesBefore = store.writerChangesForTest
            let outcome = try store.replaceSource(makeRecord(hash: "h2", chunks: three), chunks: three)
            #expect(outcome == ReplaceOutcome(added: 0, removed: 0, unchanged: 3))
            #expect(try store.rowsForTest() == rowsBefore)
            // Only the sources row is rewritten (its hash and date may have changed).
            #expect(store.writerChangesForTest - changesBefore == 1)
            #expect(try store.source("guide.md")?.contentHash == "h2")
        }
    }

    @Test func changedChunkSetReplaces() throws {
        try withStore { store, _ in
            let first = [makeChunk("a", text: "alpha aardvark"), makeChunk("b", text: "beta"), makeChunk("c", text: "gamma")]
            _ = try store.replaceSource(makeRecord(chunks: first), chunks: first)
            let second = [makeChunk("b", text: "beta"), makeChunk("c", text: "gamma"),
                          makeChunk("d", text: "delta", axis: 3), makeChunk("e", text: "epsilon", axis: 4)]
            let outcome = try store.replaceSource(makeRecord(hash: "h2", chunks: second), chunks: second)
            #expect(outcome == ReplaceOutcome(added: 2, removed: 1, unchanged: 2))
            #expect(store.chunkCount() == 4)
            #expect(try store.source("guide.md")?.chunkCount == 4)
            #expect(try store.existingVectors(ids: ["a"]).isEmpty)
            #expect(try store.keywordSearch("aardvark", limit: 5, technology: nil).isEmpty)
            #expect(try store.keywordSearch("epsilon", limit: 5, technology: nil).map(\.id) == ["e"])
            #expect(try store.semanticSearch(vector: axisVector(4), limit: 1, technology: nil).map(\.id) == ["e"])
            #expect(try store.ftsIntegrityProblem() == nil)
        }
    }

    @Test func removeSource() throws {
        try withStore { store, _ in
            let other = [makeChunk("x", source: "other.md", text: "kept words")]
            _ = try store.replaceSource(makeRecord(chunks: three), chunks: three)
            _ = try store.replaceSource(makeRecord("other.md", chunks: other), chunks: other)
            #expect(try store.removeSource("guide.md") == 3)
            #expect(try store.removeSource("guide.md") == nil)
            #expect(try store.removeSource("never.md") == nil)
            #expect(store.chunkCount() == 1)
            #expect(try store.listSources().map(\.source) == ["other.md"])
            #expect(try store.chunks(ids: ["a", "b", "c"]).isEmpty)
            #expect(try store.keywordSearch("text", limit: 5, technology: nil).isEmpty)
            #expect(try store.keywordSearch("kept", limit: 5, technology: nil).map(\.id) == ["x"])
            #expect(try store.ftsIntegrityProblem() == nil)
        }
    }

    @Test func reopeningReloadsEverything() throws {
        try withStore { store, path in
            let chunks = (0..<20).map { makeChunk("c\($0)", text: "word\($0) common", ordinal: $0, axis: $0) }
            _ = try store.replaceSource(makeRecord(chunks: chunks), chunks: chunks)
            let query = axisVector(3, tilt: 0.5)
            let semantic = try store.semanticSearch(vector: query, limit: 5, technology: nil)
            let keyword = try store.keywordSearch("word7 common", limit: 5, technology: nil)

            let reopened = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            #expect(reopened.chunkCount() == 20)
            #expect(try reopened.semanticSearch(vector: query, limit: 5, technology: nil) == semantic)
            #expect(try reopened.keywordSearch("word7 common", limit: 5, technology: nil) == keyword)
            #expect(try reopened.existingVectors(ids: ["c5"]) == ["c5": axisVector(5)])
            #expect(keyword.first?.id == "c7")
        }
    }

    @Test func semanticSearchIsExactAfterRescoring() throws {
        // Random vectors of the model's size: the int8 scan only picks candidates; the scores and
        // order returned are those of an exact search over the stored float32 vectors.
        try withTemporaryDirectory { directory in
            let dimension = 384
            let store = try SQLiteKnowledgeStore(path: directory.appendingPathComponent("kb.sqlite").path,
                                                 dimension: dimension, logger: quietLogger)
            var generator = SeededGenerator(seed: 41)
            let chunks = (0..<600).map { index in
                ChunkRecord(id: String(format: "r%03d", index), source: "random.md", heading: "", technology: "swift",
                            text: "row \(index)", ordinal: index, vector: randomUnitVector(dimension: dimension, using: &generator))
            }
            _ = try store.replaceSource(makeRecord("random.md", chunks: chunks), chunks: chunks)
            for _ in 0..<20 {
                let query = randomUnitVector(dimension: dimension, using: &generator)
                func exact(_ vector: [Float]) -> Double { zip(vector, query).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
                let expected = chunks.map { ScoredChunk(id: $0.id, score: exact($0.vector)) }
                    .sorted { $0.score > $1.score }.prefix(10)
                let found = try store.semanticSearch(vector: query, limit: 10, technology: nil)
                #expect(found.map(\.id) == expected.map(\.id))
                for (result, truth) in zip(found, expected) { #expect(abs(result.score - truth.score) < 1e-9) }
            }
        }
    }

    @Test func anotherDimensionIsRefused() throws {
        try withStore { _, path in
            let error = try #require(throws: KnowledgeStoreError.self) {
                try SQLiteKnowledgeStore(path: path, dimension: 384, logger: quietLogger)
            }
            #expect(error == .dimensionMismatch(stored: testDimension, loaded: 384, path: path))
            #expect(error.description.contains("built with 8-dimension vectors; the loaded model makes 384"))
        }
    }

    @Test func newerSchemaIsRefused() throws {
        try withStore { _, path in
            let newer = KnowledgeStoreSchema.version + 1
            try SQLiteConnection(path: path).execute("PRAGMA user_version = \(newer)")
            #expect(throws: KnowledgeStoreError.newerSchema(version: newer, supported: KnowledgeStoreSchema.version, path: path)) {
                try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            }
        }
    }

    @Test func version1StoreIsUpgradedInPlace() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            try writeOldStore(at: path, version: 1, text: "an ocelot from before")
            let store = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            #expect(try store.keywordSearch("ocelot", limit: 5, technology: nil).map(\.id) == ["old"])
            let check = try SQLiteConnection(path: path, readOnly: true)
            #expect(try check.scalarInt("PRAGMA user_version") == KnowledgeStoreSchema.version)
            let before = try check.scalarInt(SQLiteKnowledgeStore.textVersion)
            _ = try store.replaceSource(makeRecord(chunks: three), chunks: three)
            // Each inserted chunk counts as one change to the indexed text.
            #expect(try check.scalarInt(SQLiteKnowledgeStore.textVersion) == (before ?? -99) + three.count)
        }
    }

    @Test func damagedVectorIsReportedWithItsChunk() throws {
        try withStore { store, path in
            _ = try store.replaceSource(makeRecord(chunks: three), chunks: three)
            try SQLiteConnection(path: path).execute("UPDATE chunks SET vector = x'0000' WHERE id = 'b'")
            #expect(throws: KnowledgeStoreError.corruptVector(chunk: "b", bytes: 2, expected: testDimension * 4)) {
                try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            }
        }
    }

    @Test func failedReplaceChangesNothing() throws {
        try withStore { store, _ in
            let guide = [makeChunk("x", text: "xylophone", axis: 1), makeChunk("y", text: "yak", axis: 2)]
            let other = [makeChunk("q", source: "other.md", text: "quokka", axis: 3)]
            _ = try store.replaceSource(makeRecord(chunks: guide), chunks: guide)
            _ = try store.replaceSource(makeRecord("other.md", chunks: other), chunks: other)
            let rows = try store.rowsForTest()
            let sources = try store.listSources()

            // Deleting x and y and inserting w happen before q turns out to belong to other.md.
            let stolen = [makeChunk("w", text: "walrus", axis: 4), makeChunk("q", text: "quokka", axis: 3)]
            #expect(throws: KnowledgeStoreError.chunkOwnedByAnotherSource(id: "q", owner: "other.md", source: "guide.md")) {
                try store.replaceSource(makeRecord(hash: "h2", chunks: stolen), chunks: stolen)
            }
            let duplicated = [makeChunk("n"), makeChunk("n")]
            #expect(throws: KnowledgeStoreError.duplicateChunk(id: "n", source: "new.md")) {
                try store.replaceSource(makeRecord("new.md", chunks: duplicated), chunks: duplicated.map {
                    var chunk = $0
                    chunk.source = "new.md"
                    return chunk
                })
            }
            var short = makeChunk("s", source: "new.md")
            short.vector = [1, 0]
            #expect(throws: KnowledgeStoreError.wrongVectorLength(chunk: "s", count: 2, expected: testDimension)) {
                try store.replaceSource(makeRecord("new.md", chunks: [short]), chunks: [short])
            }
            #expect(throws: KnowledgeStoreError.chunkFromAnotherSource(id: "a", chunkSource: "guide.md", source: "new.md")) {
                try store.replaceSource(makeRecord("new.md", chunks: three), chunks: three)
            }

            #expect(try store.rowsForTest() == rows)
            #expect(try store.listSources() == sources)
            #expect(store.chunkCount() == 3)
            #expect(try store.existingVectors(ids: ["w", "x", "y"]).keys.sorted() == ["x", "y"])
            #expect(store.idsInMemory(["w", "x", "y"]) == ["x", "y"])
            #expect(try store.semanticSearch(vector: axisVector(4), limit: 3, technology: nil).map(\.id).contains("w") == false)
            #expect(try store.keywordSearch("walrus", limit: 5, technology: nil).isEmpty)
            #expect(try store.keywordSearch("xylophone", limit: 5, technology: nil).map(\.id) == ["x"])
            #expect(try store.integrityCheck() == "ok")
        }
    }

    @Test func relabellingASourceRelabelsItsKeptChunks() throws {
        try withStore { store, path in
            _ = try store.replaceSource(makeRecord(chunks: three), chunks: three)
            let relabelled = three.map { chunk in
                var chunk = chunk
                chunk.technology = "swift6"
                return chunk
            }
            let outcome = try store.replaceSource(makeRecord(technology: "swift6", chunks: relabelled), chunks: relabelled)
            #expect(outcome == ReplaceOutcome(added: 0, removed: 0, unchanged: 3))
            #expect(try store.technologies() == ["swift6"])
            #expect(try store.semanticSearch(vector: axisVector(0), limit: 5, technology: "swift").isEmpty)
            #expect(try store.semanticSearch(vector: axisVector(0), limit: 5, technology: "swift6").count == 3)
            #expect(try store.keywordSearch("text", limit: 5, technology: "swift6").count == 3)
            #expect(try store.chunks(ids: ["a"])["a"]?.technology == "swift6")
            let reopened = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            #expect(try reopened.semanticSearch(vector: axisVector(0), limit: 5, technology: "swift6").count == 3)
        }
    }

    @Test func semanticSearchChecksTheVectorLength() throws {
        try withStore { store, _ throws in
            #expect(throws: KnowledgeStoreError.wrongVectorLength(chunk: nil, count: 3, expected: testDimension)) {
                try store.semanticSearch(vector: [1, 0, 0], limit: 5, technology: nil)
            }
            #expect(try store.semanticSearch(vector: axisVector(0), limit: 5, technology: nil).isEmpty)
        }
    }

    @Test func healthChecks() throws {
        try withStore { store, path in
            try store.ping()
            #expect(try store.integrityCheck() == "ok")
            #expect(store.vectorMemoryBytes >= 0)
            _ = try store.replaceSource(makeRecord(chunks: three), chunks: three)
            #expect(store.vectorMemoryBytes >= 3 * testDimension * 4)

            // The FTS check has teeth: a delete the index never hears of is found.
            let sneaky = try SQLiteConnection(path: path)
            try sneaky.execute("DROP TRIGGER chunks_fts_delete; DELETE FROM chunks WHERE id = 'a'")
            #expect(try store.ftsIntegrityProblem() != nil)
            #expect(try store.integrityCheck().hasPrefix("chunks_fts: "))
        }
    }

    @Test func concurrentReadsAndWritesAgree() throws {
        try withStore { store, _ throws in
            DispatchQueue.concurrentPerform(iterations: 8) { worker in
                let source = "doc\(worker).md"
                for round in 0..<10 {
                    let chunks = (0..<5).map {
                        makeChunk("\(source)#\(round)#\($0)", source: source, text: "round\(round) shared", axis: $0)
                    }
                    #expect(throws: Never.self) {
                        _ = try store.replaceSource(makeRecord(source, chunks: chunks), chunks: chunks)
                        _ = try store.keywordSearch("shared", limit: 10, technology: nil)
                        _ = try store.semanticSearch(vector: axisVector(worker), limit: 10, technology: nil)
                    }
                }
            }
            #expect(store.chunkCount() == 40)
            #expect(try store.listSources().count == 8)
            #expect(try store.ftsIntegrityProblem() == nil)
        }
    }
}
