@testable import Chroma
import Foundation
import Resilience
@testable import SQLiteLedger
@testable import Storage
import Testing
import TestSupport

@Suite struct VectorOutboxTests {
    private func operations(_ store: SQLiteKnowledgeStore) throws -> [String] {
        try store.pendingVectorChanges(limit: 1_000).map { change in
            switch change.operation {
            case .upsert(_, let chunk, _, _, _): "upsert \(change.subject) \(chunk.source) \(chunk.technology)"
            case .delete: "delete \(change.subject)"
            case .source(let record?): "source \(change.subject) \(record.technology) \(record.chunkCount)"
            case .source(nil): "removed \(change.subject)"
            case .nothingToSend: "nothing \(change.subject)"
            }
        }
    }

    @Test func anOutboxWaitingInAVersion4FileIsKeptInOrderByTheUpgrade() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            try writeOldStore(at: path, version: 4, text: "text", sql: """
                UPDATE meta SET value = 'on' WHERE key = 'vector_outbox';
                INSERT INTO vector_outbox(seq, chunk_id, op) VALUES (7, 'gone-before', 'delete');
                """)
            let store = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            #expect(try operations(store) == ["delete gone-before", "upsert old old.md swift"])
            #expect(try store.pendingVectorChanges(limit: 1).first?.sequence == 7)
            _ = try store.removeSource("old.md")
            #expect(try operations(store).suffix(2) == ["delete old", "removed old.md"], "the triggers and the source entry work")
        }
    }

    @Test func anUnboundStoreQueuesNothing() throws {
        try withStore { store, _ in
            let chunks = [makeChunk("a"), makeChunk("b", axis: 1)]
            _ = try store.replaceSource(makeRecord(chunks: chunks), chunks: chunks)
            #expect(try store.pendingVectorChangeCount() == 0)
        }
    }

    @Test func bindingQueuesWhatIsStoredAndEveryLaterChangeInOrder() throws {
        try withStore { store, path in
            let first = [makeChunk("a"), makeChunk("b", axis: 1)]
            _ = try store.replaceSource(makeRecord(chunks: first), chunks: first)
            #expect(try store.bindVectorTarget("chroma one") == 3)
            #expect(try store.bindVectorTarget("chroma one") == 0, "bound already: nothing queued again")
            #expect(try operations(store) == ["upsert a guide.md swift", "upsert b guide.md swift", "source guide.md swift 2"])
            let pending = try store.pendingVectorChanges(limit: 1)
            guard case .upsert(let vector, let passage, let ordinal, let hash, _) = pending[0].operation else {
                Issue.record("not an upsert")
                return
            }
            #expect(vector == axisVector(0), "the vector travels with the change")
            #expect(passage == StoredChunk(id: "a", source: "guide.md", heading: first[0].heading, technology: "swift",
                                         text: first[0].text), "and the passage")
            #expect(ordinal == first[0].ordinal && hash == makeRecord(chunks: first).contentHash)
            try store.acknowledgeVectorChanges(through: pending[0].sequence)
            #expect(try operations(store) == ["upsert b guide.md swift", "source guide.md swift 2"])

            // b goes, c comes, and a new label rewrites the metadata of what stays.
            let second = [makeChunk("a", technology: "docs"), makeChunk("c", technology: "docs", axis: 2)]
            _ = try store.replaceSource(makeRecord(technology: "docs", chunks: second), chunks: second)
            // The upsert of b still queued reads as a delete now that b is gone: Chroma must end without it.
            // Each write's source entry comes after its chunks, and reads as the source is now.
            #expect(try operations(store) == [
                "delete b", "source guide.md docs 2", "delete b", "upsert c guide.md docs", "upsert a guide.md docs",
                "upsert c guide.md docs", "source guide.md docs 2",
            ])

            _ = try store.removeSource("guide.md")
            #expect(try operations(store).suffix(3) == ["delete a", "delete c", "removed guide.md"])

            // Another process writing to the same file (without any Chroma settings) queues too.
            let other = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            let chunk = [makeChunk("z", source: "other.md")]
            _ = try other.replaceSource(makeRecord("other.md", chunks: chunk), chunks: chunk)
            #expect(try operations(store).suffix(2) == ["upsert z other.md swift", "source other.md swift 1"])

            // Bound to another collection: the queue starts over with everything stored, and until
            // that is sent the new collection holds only part of the folder.
            #expect(try store.bindVectorTarget("chroma two") == 2)
            #expect(try operations(store) == ["upsert z other.md swift", "source other.md swift 1"])
            #expect(try store.vectorBackfillRemaining() == 2)
            let later = [makeChunk("y", source: "later.md")]
            _ = try store.replaceSource(makeRecord("later.md", chunks: later), chunks: later)
            #expect(try store.vectorBackfillRemaining() == 2, "what is written afterwards is not part of the backfill")
            try store.acknowledgeVectorChanges(through: try store.pendingVectorChanges(limit: 2)[1].sequence)
            #expect(try store.vectorBackfillRemaining() == 0 && store.pendingVectorChangeCount() == 2)
        }
    }
}

@Suite struct ChromaVectorStoreTests {
    private func remote(_ store: SQLiteKnowledgeStore, url: String? = nil, collection: String) throws -> ChromaVectorStore {
        let configuration = try ChromaConfiguration(url: url ?? ChromaTestServer.url, collection: collection,
                                                    connectTimeout: .seconds(1))
        return ChromaVectorStore(client: ChromaClient(configuration: configuration),
                                 breaker: CircuitBreaker(name: "chroma", configuration: .init(failureThreshold: 2)),
                                 store: store, retry: RetryPolicy(initialDelay: .milliseconds(10)), logger: quietLogger)
    }

    /// A store in a new folder, which the caller removes (async tests cannot use `withStore`).
    private func temporaryStore() throws -> (SQLiteKnowledgeStore, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chroma-store-\(UUID().uuidString)")
        let store = try SQLiteKnowledgeStore(path: directory.appendingPathComponent("kb.sqlite").path, dimension: testDimension,
                                             logger: quietLogger)
        return (store, directory)
    }

    @Test func chromaAnswersAsTheEmbeddedStoreDoesAndFollowsEveryChange() async throws {
        let (store, directory) = try temporaryStore()
        defer { try? FileManager.default.removeItem(at: directory) }
        let collection = "test-\(UUID().uuidString.prefix(8).lowercased())"
        let chroma = try remote(store, collection: collection)
        _ = try store.bindVectorTarget(chroma.target)
        // Random directions, so no two chunks tie and the order is the same for any exact search.
        var generator = SeededGenerator(seed: 7)
        func chunk(_ id: String, _ source: String, _ technology: String) -> ChunkRecord {
            var chunk = makeChunk(id, source: source, technology: technology)
            chunk.vector = randomUnitVector(dimension: testDimension, using: &generator)
            return chunk
        }
        let swift = (0..<6).map { chunk("s\($0)", "a.md", "swift") }
        let docs = (0..<6).map { chunk("d\($0)", "b.md", "docs") }
        _ = try store.replaceSource(makeRecord("a.md", chunks: swift), chunks: swift)
        _ = try store.replaceSource(makeRecord("b.md", technology: "docs", chunks: docs), chunks: docs)
        #expect(try await chroma.sync() == 14, "12 passages, then the 2 sources' entries")
        #expect(try store.pendingVectorChangeCount() == 0)
        #expect(try await chroma.client.count() == 12)
        let entries = try await chroma.client.sources(changedSince: nil).sorted { $0.source < $1.source }
        #expect(entries.map { "\($0.source) \($0.technology) \($0.chunkCount) \($0.removed)" }
            == ["a.md swift 6 false", "b.md docs 6 false"])

        for round in 0..<3 {
            let query = randomUnitVector(dimension: testDimension, using: &generator)
            let local = try store.semanticSearch(vector: query, limit: 5, technology: nil)
            let remote = try await chroma.nearest(to: query, limit: 5, technology: nil)
            #expect(remote.map(\.id) == local.map(\.id), "round \(round)")
            for (r, l) in zip(remote, local) { #expect(abs(r.score - l.score) < 1e-4) }
            #expect(try await chroma.nearest(to: query, limit: 5, technology: "docs").map(\.id)
                == store.semanticSearch(vector: query, limit: 5, technology: "docs").map(\.id))
        }

        _ = try store.removeSource("a.md")
        #expect(try await chroma.sync() == 7)
        #expect(try await chroma.client.count() == 6)
        #expect(try await chroma.client.sources(changedSince: nil).filter(\.removed).map(\.source) == ["a.md"],
                "a removal leaves a tombstone")
        try await chroma.client.deleteCollection()
    }

    @Test func aCollectionStillBeingFilledIsNotSearched() async throws {
        let (store, directory) = try temporaryStore()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A knowledge base filled before Chroma was configured: binding queues all of it.
        let chunks = (0..<4).map { makeChunk("c\($0)", ordinal: $0, axis: $0) }
        _ = try store.replaceSource(makeRecord(chunks: chunks), chunks: chunks)
        let chroma = try remote(store, collection: "test-\(UUID().uuidString.prefix(8).lowercased())")
        #expect(try store.bindVectorTarget(chroma.target) == 5)
        let refusal = try await #require(throws: ChromaError.self) { try await chroma.nearest(to: axisVector(2), limit: 1, technology: nil) }
        #expect(refusal.kind == .filling && refusal.description.contains("5 to go"), "\(refusal)")
        #expect(chroma.breaker.snapshot.consecutiveFailures == 0, "Chroma did nothing wrong")
        #expect(try await chroma.sync() == 5)
        #expect(try await chroma.nearest(to: axisVector(2), limit: 1, technology: nil).map(\.id) == ["c2"])
        try await chroma.client.deleteCollection()
    }

    @Test func aSecondProcessCopiesTheCollectionAndFollowsEveryChangeButNotOverItsOwnPendingOnes() async throws {
        let (writer, writerFolder) = try temporaryStore()
        let (reader, readerFolder) = try temporaryStore()
        defer {
            try? FileManager.default.removeItem(at: writerFolder)
            try? FileManager.default.removeItem(at: readerFolder)
        }
        let collection = "test-\(UUID().uuidString.prefix(8).lowercased())"
        let writing = try remote(writer, collection: collection)
        let reading = try remote(reader, collection: collection)
        _ = try writer.bindVectorTarget(writing.target)
        _ = try reader.bindVectorTarget(reading.target)
        let follower = CollectionFollower(client: reading.client, breaker: reading.breaker, store: reader, logger: quietLogger)
        let guide = (0..<3).map { makeChunk("g\($0)", technology: "React Docs", text: "guide passage \($0) about hooks",
                                            heading: "Hooks", ordinal: $0, axis: $0) }
        let notes = [makeChunk("n0", source: "notes.md", technology: "notes", text: "a quokka note", axis: 3)]
        _ = try writer.replaceSource(makeRecord(technology: "React Docs", chunks: guide), chunks: guide)
        _ = try writer.replaceSource(makeRecord("notes.md", technology: "notes", hash: "n1", chunks: notes), chunks: notes)
        #expect(try await writing.sync() == 6)

        // The reader, with an empty folder, copies everything but the vectors.
        #expect(try await follower.catchUp() == 2)
        #expect(try reader.listSources() == writer.listSources())
        #expect(try reader.chunks(ids: ["g0", "g1", "g2", "n0"]) == writer.chunks(ids: ["g0", "g1", "g2", "n0"]))
        #expect(try reader.keywordSearch("hooks passage", limit: 5, technology: nil)
            == writer.keywordSearch("hooks passage", limit: 5, technology: nil))
        #expect(try reader.existingVectors(ids: ["g0"]).isEmpty, "no vector is copied")
        #expect(try reader.pendingVectorChangeCount() == 0, "nothing copied goes back to Chroma")
        #expect(try await follower.catchUp() == 0, "caught up: nothing changes again")
        // Its semantic search runs in Chroma and comes back with the passages; Chroma gives it
        // the vectors another process embedded.
        let hit = try #require(try await reading.nearest(to: axisVector(1), limit: 1, technology: nil).first)
        #expect(try hit.id == "g1" && hit.passage == writer.chunks(ids: ["g1"])["g1"])
        #expect(await reading.storedVectors(ids: ["g2", "missing"]).keys.sorted() == ["g2"])

        // A removal and a change reach the reader; its own change, not yet sent, is not overwritten.
        _ = try writer.removeSource("notes.md")
        let changed = [guide[0], makeChunk("g3", technology: "React Docs", text: "a new passage on effects", ordinal: 1, axis: 4)]
        _ = try writer.replaceSource(makeRecord(technology: "React Docs", hash: "h2", chunks: changed), chunks: changed)
        #expect(try await writing.sync() > 0)
        let own = [makeChunk("m0", source: "mine.md", text: "only here for now", axis: 5)]
        _ = try reader.replaceSource(makeRecord("mine.md", hash: "m1", chunks: own), chunks: own)
        #expect(try await follower.catchUp() == 2)
        #expect(try reader.listSources().map(\.source) == ["guide.md", "mine.md"])
        #expect(try reader.source("guide.md")?.contentHash == "h2")
        #expect(try reader.chunks(ids: ["g1", "g3"]).keys.sorted() == ["g3"])
        #expect(try reader.keywordSearch("quokka", limit: 5, technology: nil).isEmpty)
        #expect(try await reading.sync() == 2)
        #expect(try await CollectionFollower(client: writing.client, breaker: writing.breaker, store: writer,
                                             logger: quietLogger).catchUp() >= 1)
        #expect(try writer.source("mine.md")?.contentHash == "m1")
        try await writing.client.deleteCollection()
    }

    @Test func changesWaitWhileChromaIsDownAndArriveFromTheNextSync() async throws {
        let (store, directory) = try temporaryStore()
        defer { try? FileManager.default.removeItem(at: directory) }
        let collection = "test-\(UUID().uuidString.prefix(8).lowercased())"
        let down = try remote(store, url: "http://127.0.0.1:1", collection: collection)
        let up = try remote(store, collection: collection)
        #expect(down.target != up.target)
        _ = try store.bindVectorTarget(up.target)
        let chunks = [makeChunk("x"), makeChunk("y", axis: 1)]
        _ = try store.replaceSource(makeRecord(chunks: chunks), chunks: chunks)

        // A refused connection, retried, opens the breaker, whose refusal ends the sync.
        await #expect(throws: (any Error).self) { try await down.sync() }
        #expect(try store.pendingVectorChangeCount() == 3, "nothing acknowledged")
        await #expect(throws: (any Error).self) { try await down.nearest(to: axisVector(0), limit: 1, technology: nil) }
        #expect(down.breaker.snapshot.state == .open)

        #expect(try await up.sync() == 3)
        #expect(try await up.client.count() == 2)
        #expect(try await up.nearest(to: axisVector(1), limit: 1, technology: nil).map(\.id) == ["y"])
        try await up.client.deleteCollection()
    }
}

@Suite struct SyncQueueTests {
    /// Many callers at once, finishing at different speeds: every operation runs, one at a time,
    /// and a failing one does not stop the next. (A queue whose waiters loop on a finished task
    /// never finishes this.)
    @Test func operationsRunOneAtATimeAndAllOfThemRun() async throws {
        let queue = SyncQueue()
        let log = Locked<[String]>([])
        let running = Locked(0)
        let answered = try await withThrowingTaskGroup(of: Int?.self) { group in
            for index in 0..<40 {
                group.addTask {
                    try? await queue.run {
                        running.withLock { $0 += 1 }
                        log.withLock { $0.append("start \(index)") }
                        #expect(running.withLock { $0 } == 1, "one at a time")
                        for _ in 0..<(index % 3) { await Task.yield() }
                        running.withLock { $0 -= 1 }
                        log.withLock { $0.append("end \(index)") }
                        if index % 7 == 0 { throw CancellationError() }
                        return index
                    }
                }
            }
            var answered: [Int] = []
            for try await result in group { if let result { answered.append(result) } }
            return answered
        }
        #expect(answered.sorted() == (0..<40).filter { $0 % 7 != 0 })
        let entries = log.withLock { $0 }
        #expect(entries.count == 80)
        for pair in stride(from: 0, to: entries.count, by: 2) {
            #expect(entries[pair].dropFirst(6) == entries[pair + 1].dropFirst(4), "each ends before the next starts")
        }
    }
}
