@testable import EmbeddedVectors
import Foundation
import Storage
@testable import SQLiteLedger
import Testing

/// A store's snapshot file: written once the store is large, mapped by the next store to open it,
/// brought up to date from the chunk journal, and ignored (for SQLite's vectors) whenever it
/// cannot be trusted. Small policies stand for the large stores of real use.
@Suite struct KnowledgeStoreSnapshotTests {
    /// Writes a snapshot once four chunks are stored, and again once four are outside it.
    private let eager = VectorSnapshotPolicy(minimumRows: 4, maximumRowsOutside: 4)
    /// Never writes one by itself.
    private let never = VectorSnapshotPolicy(minimumRows: .max, maximumRowsOutside: .max)

    private func open(_ path: String, _ policy: VectorSnapshotPolicy, journalKeep: Int = KnowledgeStoreSchema.journalKeep)
        throws -> SQLiteKnowledgeStore {
        try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger, journalKeep: journalKeep,
                                 snapshotPolicy: policy)
    }

    /// Stores `count` chunks of source `name` (ids `name-0`…), each along its own axis.
    private func fill(_ store: SQLiteKnowledgeStore, _ name: String, count: Int, technology: String = "swift",
                      firstAxis: Int = 0) throws {
        let chunks = (0..<count).map {
            makeChunk("\(name)-\($0)", source: "\(name).md", technology: technology, axis: firstAxis + $0)
        }
        _ = try store.replaceSource(makeRecord("\(name).md", technology: technology, chunks: chunks), chunks: chunks)
    }

    /// What each axis finds, with and without a filter: the store's answers to compare.
    private func answers(_ store: SQLiteKnowledgeStore) throws -> [[String]] {
        try (0..<testDimension).flatMap { axis in
            try [nil, "swift", "rust"].map {
                try store.semanticSearch(vector: axisVector(axis, tilt: 0.3), limit: 3, technology: $0).map(\.id)
            }
        }
    }

    @Test func aLargeStoreWritesItsSnapshotAndTheNextOpeningMapsIt() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let store = try open(path, eager)
            try fill(store, "a", count: 3)
            store.waitForSnapshot()
            #expect(!FileManager.default.fileExists(atPath: store.snapshotPath), "three chunks stay in memory")
            try fill(store, "b", count: 3, technology: "rust", firstAxis: 3)
            store.waitForSnapshot()
            #expect(FileManager.default.fileExists(atPath: store.snapshotPath))
            #expect(store.vectorMappedBytes > 0, "the writer serves from the file it wrote")

            let reopened = try open(path, never)
            #expect(reopened.vectorMappedBytes > 0)
            #expect(reopened.chunkCount() == 6)
            #expect(try answers(reopened) == answers(store))
            #expect(reopened.hasChangesFromOtherWriters() == false, "level with the journal")
        }
    }

    @Test func aStoreWhoseVectorsAnotherStoreSearchesKeepsNoneInMemoryNorOnDisk() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let store = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger,
                                                 snapshotPolicy: eager, keepsVectorIndex: false)
            try fill(store, "a", count: 3)
            try fill(store, "b", count: 3, technology: "rust", firstAxis: 3)
            store.waitForSnapshot()
            #expect(!FileManager.default.fileExists(atPath: store.snapshotPath), "due by the policy, yet not written")
            #expect(try store.writeSnapshot() == false)
            #expect(store.vectorMemoryBytes == 0 && store.vectorMappedBytes == 0)
            // Counts and labels come from SQLite; the float32 vectors stay there for the outbox.
            #expect(store.chunkCount() == 6)
            #expect(store.knownTechnologyLabels() == ["rust", "swift"])
            #expect(try store.existingVectors(ids: ["a-0", "b-2"]).count == 2)
            #expect(try store.keywordSearch("text of", limit: 10, technology: "rust").count == 3)
            #expect(throws: KnowledgeStoreError.noVectorIndex(path: path)) {
                try store.semanticSearch(vector: axisVector(0), limit: 3, technology: nil)
            }

            // Another process's writes still reach it (its result cache must learn of them).
            let other = try open(path, never)
            try fill(other, "c", count: 2, technology: "go", firstAxis: 1)
            #expect(store.hasChangesFromOtherWriters())
            #expect(try store.catchUpWithOtherWriters() > 0)
            #expect(store.chunkCount() == 8 && store.knownTechnologyLabels() == ["go", "rust", "swift"])
            #expect(store.vectorMemoryBytes == 0)
            _ = try other.removeSource("a.md")
            #expect(try store.catchUpWithOtherWriters() > 0)
            #expect(store.chunkCount() == 5 && store.knownTechnologyLabels() == ["go", "rust"])
        }
    }

    @Test func passagesCopiedFromChromaWithoutVectorsAreFoundByKeywordsWhereverTheFileIsOpened() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let replica = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger,
                                                   keepsVectorIndex: false)
            let copied = [ReplicatedChunk(id: "r0", heading: "Hooks", text: "a copied passage on hooks", ordinal: 0),
                          ReplicatedChunk(id: "r1", heading: "", text: "another copied passage", ordinal: 1)]
            let record = SourceRecord(source: "remote.md", technology: "React Docs", contentHash: "h", chunkCount: 2,
                                      ingestedAt: Date(timeIntervalSince1970: 1_700_000_000))
            #expect(try replica.applyReplicatedSource(record, chunks: copied) == ReplaceOutcome(added: 2, removed: 0, unchanged: 0))
            #expect(try replica.applyReplicatedSource(record, chunks: copied) == ReplaceOutcome(added: 0, removed: 0, unchanged: 2))
            try fill(replica, "own", count: 2)
            #expect(try replica.keywordSearch("copied passage", limit: 5, technology: nil).map(\.id).sorted() == ["r0", "r1"])
            #expect(try replica.existingVectors(ids: ["r0", "own-0"]).keys.sorted() == ["own-0"])

            // The same file opened by a process that keeps its own vector index (no Chroma): the
            // copies, without vectors, are searched by keywords only, not refused as damaged.
            let local = try open(path, never)
            #expect(local.chunkCount() == 2)
            #expect(try local.semanticSearch(vector: axisVector(0), limit: 10, technology: nil).map(\.id).sorted()
                == ["own-0", "own-1"])
            #expect(try local.keywordSearch("hooks", limit: 5, technology: nil).map(\.id) == ["r0"])
            // And it follows later copies without taking them into its index.
            let more = copied + [ReplicatedChunk(id: "r2", heading: "", text: "a third copy", ordinal: 2)]
            _ = try replica.applyReplicatedSource(record, chunks: more)
            #expect(try local.catchUpWithOtherWriters() > 0)
            #expect(local.chunkCount() == 2)
            #expect(try replica.applyReplicatedRemoval("remote.md") == 3)
            #expect(try replica.applyReplicatedRemoval("remote.md") == nil)
            #expect(try local.keywordSearch("copied", limit: 5, technology: nil).isEmpty)
        }
    }

    @Test func changesAfterTheSnapshotAreAppliedWhenItIsOpened() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let store = try open(path, never)
            try fill(store, "a", count: 4)
            try fill(store, "b", count: 2, firstAxis: 4)
            #expect(try store.writeSnapshot())
            #expect(try store.writeSnapshot() == false, "nothing has changed since")
            // After it: a source removed, one relabelled and shrunk, one added.
            _ = try store.removeSource("b.md")
            try fill(store, "a", count: 2, technology: "rust")
            try fill(store, "c", count: 2, firstAxis: 6)

            let reopened = try open(path, never)
            #expect(reopened.vectorMappedBytes > 0)
            #expect(reopened.idsInMemory(["a-0", "a-1", "a-2", "a-3", "b-0", "c-0", "c-1"]) == ["a-0", "a-1", "c-0", "c-1"])
            #expect(try answers(reopened) == answers(store))
            #expect(try reopened.semanticSearch(vector: axisVector(0), limit: 1, technology: "rust").map(\.id) == ["a-0"])
        }
    }

    @Test func aSnapshotThatCannotBeTrustedIsIgnored() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let other = directory.appendingPathComponent("other.sqlite").path
            let store = try open(path, never)
            try fill(store, "a", count: 4)
            let elsewhere = try open(other, never)
            try fill(elsewhere, "z", count: 5)
            #expect(try elsewhere.writeSnapshot())

            // Another database's file, then a damaged one, in this store's place.
            try FileManager.default.copyItem(atPath: elsewhere.snapshotPath, toPath: store.snapshotPath)
            let foreign = try open(path, never)
            #expect(foreign.vectorMappedBytes == 0)
            #expect(foreign.idsInMemory(["a-0", "z-0"]) == ["a-0"])
            try Data("damaged".utf8).write(to: URL(fileURLWithPath: store.snapshotPath))
            let damaged = try open(path, never)
            #expect(damaged.vectorMappedBytes == 0)
            #expect(try answers(damaged) == answers(store))
        }
    }

    @Test func aSnapshotOlderThanTheTrimmedJournalIsIgnored() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let store = try open(path, never, journalKeep: 3)
            try fill(store, "a", count: 4)
            #expect(try store.writeSnapshot())
            try fill(store, "a", count: 4, technology: "rust")  // four relabels: the journal forgets the snapshot's entry
            let reopened = try open(path, never, journalKeep: 3)
            #expect(reopened.vectorMappedBytes == 0)
            #expect(try answers(reopened) == answers(store))
        }
    }

    @Test func anotherProcessesNewerSnapshotIsAdoptedInsteadOfWritten() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let writer = try open(path, never)
            let follower = try open(path, never)
            try fill(writer, "a", count: 6)
            #expect(try writer.writeSnapshot())
            try follower.catchUpWithOtherWriters()
            #expect(follower.vectorMappedBytes == 0)
            let written = try FileManager.default.attributesOfItem(atPath: writer.snapshotPath)[.modificationDate] as? Date
            #expect(try follower.writeSnapshot() == false, "the writer's file already holds every vector")
            #expect(follower.vectorMappedBytes > 0)
            #expect(try FileManager.default.attributesOfItem(atPath: writer.snapshotPath)[.modificationDate] as? Date == written)
            #expect(try answers(follower) == answers(writer))
        }
    }

    @Test func aDeadWritersTemporaryFileIsRemovedAtOpening() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            // No process has the largest pid; a live process's file (our own) is left alone.
            let dead = VectorSnapshotWriter.temporaryPath(for: SQLiteKnowledgeStore.snapshotPath(for: path), process: Int32.max)
            let live = VectorSnapshotWriter.temporaryPath(for: SQLiteKnowledgeStore.snapshotPath(for: path), process: getppid())
            for file in [dead, live] { try Data("partial".utf8).write(to: URL(fileURLWithPath: file)) }
            _ = try open(path, never)
            #expect(!FileManager.default.fileExists(atPath: dead))
            #expect(FileManager.default.fileExists(atPath: live))
        }
    }
}
