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
            case .upsert(_, let source, let technology): "upsert \(change.chunkID) \(source) \(technology)"
            case .delete: "delete \(change.chunkID)"
            }
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
            #expect(try store.bindVectorTarget("chroma one") == 2)
            #expect(try store.bindVectorTarget("chroma one") == 0, "bound already: nothing queued again")
            #expect(try operations(store) == ["upsert a guide.md swift", "upsert b guide.md swift"])
            let pending = try store.pendingVectorChanges(limit: 1)
            guard case .upsert(let vector, _, _) = pending[0].operation else { Issue.record("not an upsert"); return }
            #expect(vector == axisVector(0), "the vector travels with the change")
            try store.acknowledgeVectorChanges(through: pending[0].sequence)
            #expect(try operations(store) == ["upsert b guide.md swift"])

            // b goes, c comes, and a new label rewrites the metadata of what stays.
            let second = [makeChunk("a", technology: "docs"), makeChunk("c", technology: "docs", axis: 2)]
            _ = try store.replaceSource(makeRecord(technology: "docs", chunks: second), chunks: second)
            // The upsert of b still queued reads as a delete now that b is gone: Chroma must end without it.
            #expect(try operations(store) == [
                "delete b", "delete b", "upsert c guide.md docs", "upsert a guide.md docs", "upsert c guide.md docs",
            ])

            _ = try store.removeSource("guide.md")
            #expect(try operations(store).suffix(2) == ["delete a", "delete c"])

            // Another process writing to the same file (without any Chroma settings) queues too.
            let other = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            let chunk = [makeChunk("z", source: "other.md")]
            _ = try other.replaceSource(makeRecord("other.md", chunks: chunk), chunks: chunk)
            #expect(try operations(store).last == "upsert z other.md swift")

            // Bound to another collection: the queue starts over with everything stored.
            #expect(try store.bindVectorTarget("chroma two") == 1)
            #expect(try operations(store) == ["upsert z other.md swift"])
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
        #expect(try await chroma.sync() == 12)
        #expect(try store.pendingVectorChangeCount() == 0)
        #expect(try await chroma.client.count() == 12)

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
        #expect(try await chroma.sync() == 6)
        #expect(try await chroma.client.count() == 6)
        try await chroma.client.deleteCollection()
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
        #expect(try store.pendingVectorChangeCount() == 2, "nothing acknowledged")
        await #expect(throws: (any Error).self) { try await down.nearest(to: axisVector(0), limit: 1, technology: nil) }
        #expect(down.breaker.snapshot.state == .open)

        #expect(try await up.sync() == 2)
        #expect(try await up.client.count() == 2)
        #expect(try await up.nearest(to: axisVector(1), limit: 1, technology: nil).map(\.id) == ["y"])
        try await up.client.deleteCollection()
    }
}
