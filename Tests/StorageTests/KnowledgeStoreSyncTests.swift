import Foundation
@testable import SQLiteLedger
import Testing

/// Two stores opened on one file stand for two processes sharing a data folder: each has its own
/// connections and its own vectors in memory, and must learn of the other's writes.
@Suite struct KnowledgeStoreSyncTests {
    private func openBoth(journalKeep: Int = KnowledgeStoreSchema.journalKeep,
                          _ body: (SQLiteKnowledgeStore, SQLiteKnowledgeStore) throws -> Void) throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let first = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger,
                                                 journalKeep: journalKeep)
            let second = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger,
                                                  journalKeep: journalKeep)
            try body(first, second)
        }
    }

    private func nearest(_ store: SQLiteKnowledgeStore, axis: Int, technology: String? = nil) throws -> [String] {
        try store.semanticSearch(vector: axisVector(axis), limit: 1, technology: technology).map(\.id)
    }

    @Test func anotherWritersChunksAppearAfterTheCatchUp() throws {
        try openBoth { writer, reader in
            #expect(reader.hasChangesFromOtherWriters() == false)
            let chunks = [makeChunk("a", axis: 0), makeChunk("b", axis: 1)]
            _ = try writer.replaceSource(makeRecord(chunks: chunks), chunks: chunks)

            #expect(reader.chunkCount() == 0, "nothing moves in memory by itself")
            #expect(reader.hasChangesFromOtherWriters())
            #expect(try reader.catchUpWithOtherWriters() == 2)
            #expect(reader.chunkCount() == 2)
            #expect(try nearest(reader, axis: 1) == ["b"])
            #expect(reader.hasChangesFromOtherWriters() == false)
            #expect(try reader.catchUpWithOtherWriters() == 0)
        }
    }

    @Test func ownWritesAreNotChangesFromOthers() throws {
        try openBoth { writer, _ in
            let chunks = [makeChunk("a", axis: 0)]
            _ = try writer.replaceSource(makeRecord(chunks: chunks), chunks: chunks)
            #expect(writer.hasChangesFromOtherWriters() == false)
            _ = try writer.removeSource("guide.md")
            #expect(writer.hasChangesFromOtherWriters() == false)
            #expect(writer.chunkCount() == 0)
        }
    }

    @Test func replacedRemovedAndRelabelledChunksFollow() throws {
        try openBoth { writer, reader in
            let first = [makeChunk("a", axis: 0), makeChunk("b", axis: 1)]
            _ = try writer.replaceSource(makeRecord(chunks: first), chunks: first)
            try reader.catchUpWithOtherWriters()

            // A changed file: "a" goes, "c" comes, and the whole source is relabelled.
            let second = [makeChunk("b", technology: "rust", axis: 1), makeChunk("c", technology: "rust", axis: 2)]
            _ = try writer.replaceSource(makeRecord(technology: "rust", hash: "h2", chunks: second), chunks: second)
            let other = [makeChunk("z", source: "other.md", axis: 5)]
            _ = try writer.replaceSource(makeRecord("other.md", chunks: other), chunks: other)
            _ = try writer.removeSource("other.md")

            try reader.catchUpWithOtherWriters()
            #expect(reader.idsInMemory(["a", "b", "c", "z"]) == ["b", "c"])
            #expect(try nearest(reader, axis: 1, technology: "rust") == ["b"])
            #expect(try nearest(reader, axis: 1, technology: "swift").isEmpty)
        }
    }

    @Test func aWriteOfOurOwnDoesNotSkipOthersEarlierChanges() throws {
        try openBoth { one, two in
            let theirs = [makeChunk("t", source: "theirs.md", axis: 3)]
            _ = try one.replaceSource(makeRecord("theirs.md", chunks: theirs), chunks: theirs)
            // `two` writes before it has caught up: its write must not mark `one`'s as seen.
            let ours = [makeChunk("o", source: "ours.md", axis: 4)]
            _ = try two.replaceSource(makeRecord("ours.md", chunks: ours), chunks: ours)
            #expect(two.hasChangesFromOtherWriters())
            try two.catchUpWithOtherWriters()
            #expect(two.idsInMemory(["t", "o"]).count == 2)
            try one.catchUpWithOtherWriters()
            #expect(one.idsInMemory(["t", "o"]).count == 2)
        }
    }

    @Test func aStoreFallenBehindTheTrimmedJournalReloadsEveryVector() throws {
        try openBoth(journalKeep: 3) { writer, reader in
            for file in 0..<5 {
                let chunks = (0..<2).map { makeChunk("f\(file)-\($0)", source: "f\(file).md", axis: file + $0) }
                _ = try writer.replaceSource(makeRecord("f\(file).md", chunks: chunks), chunks: chunks)
            }
            _ = try writer.removeSource("f0.md")
            let journal = try SQLiteConnection(path: writer.path, readOnly: true)
            #expect(try journal.scalarInt("SELECT count(*) FROM chunk_journal") == 3, "trimmed to the newest three")

            #expect(try reader.catchUpWithOtherWriters() == 8, "a reload counts every chunk")
            #expect(reader.chunkCount() == writer.chunkCount())
            let ids = (1..<5).flatMap { file in (0..<2).map { "f\(file)-\($0)" } }
            #expect(reader.idsInMemory(ids + ["f0-0", "f0-1"]) == Set(ids))
        }
    }

    @Test func aReopenedStoreStartsLevelWithTheJournal() throws {
        try withStore { store, path in
            let chunks = [makeChunk("a", axis: 0)]
            _ = try store.replaceSource(makeRecord(chunks: chunks), chunks: chunks)
            let reopened = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            #expect(reopened.chunkCount() == 1)
            #expect(reopened.hasChangesFromOtherWriters() == false)
        }
    }
}
