import Foundation
@testable import SQLiteLedger
import Testing

/// Two stores on one file stand for the process that re-embeds and a server still running the
/// old model.
@Suite struct ReembeddingTests {
    private func withTwo(_ body: (SQLiteKnowledgeStore, SQLiteKnowledgeStore, String) throws -> Void) throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kb.sqlite").path
            let server = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            let chunks = (0..<5).map { makeChunk("c\($0)", ordinal: $0, axis: $0) }
            _ = try server.replaceSource(makeRecord(chunks: chunks), chunks: chunks)
            #expect(try server.adoptEmbeddingModel("old-model", name: "acme/old") == "old-model")
            let reembedder = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            try body(server, reembedder, path)
        }
    }

    /// Stages a vector along `axis` for every passage still without one, two at a time, for `model`.
    private func stageAll(_ store: SQLiteKnowledgeStore, model: String = "new-model", weights: String? = nil, axis: Int,
                          dimension: Int = testDimension) throws -> Int {
        var staged = 0
        var after = 0
        while case let batch = try store.passagesToReembed(after: after, limit: 2), let last = batch.last {
            after = last.rowid
            let vector = axisVector(axis) + [Float](repeating: 0, count: dimension - testDimension)
            try store.stage(batch.map { (id: $0.passage.id, vector: vector) }, model: model, weights: weights, dimension: dimension)
            staged += batch.count
        }
        return staged
    }

    @Test func theNewVectorsReplaceTheOldOnlyWhenEveryPassageHasOne() throws {
        try withTwo { server, reembedder, _ in
            let weights = "0123456789abcdef"
            #expect(try reembedder.beginReembedding(model: "new-model", weights: weights, dimension: testDimension)
                == ReembeddingState(staged: 0, total: 5))
            let first = try reembedder.passagesToReembed(after: 0, limit: 2)
            #expect(first.map(\.passage.id) == ["c0", "c1"])
            #expect(try reembedder.passagesToReembed(after: first[0].rowid, limit: 1).map(\.passage.id) == ["c1"])
            try reembedder.stage(first.map { (id: $0.passage.id, vector: axisVector(7)) }, model: "new-model", weights: weights,
                                 dimension: testDimension)
            #expect(try reembedder.finishReembedding(model: "new-model", name: "acme/new-model", weights: weights, dimension: testDimension) == false)
            #expect(try reembedder.embeddingModel() == "old-model")
            #expect(try reembedder.embeddingModelName() == "acme/old")
            #expect(try server.semanticSearch(vector: axisVector(3), limit: 1, technology: nil).map(\.id) == ["c3"])

            #expect(try stageAll(reembedder, weights: weights, axis: 7) == 3)
            // A passage the server writes meanwhile needs its new vector too before the swap.
            let late = [makeChunk("late", source: "late.md", axis: 2)]
            _ = try server.replaceSource(makeRecord("late.md", chunks: late), chunks: late)
            #expect(try reembedder.finishReembedding(model: "new-model", name: "acme/new-model", weights: weights, dimension: testDimension) == false)
            #expect(try reembedder.passagesToReembed(after: 0, limit: 10).map(\.passage.id) == ["late"])
            #expect(try stageAll(reembedder, weights: weights, axis: 7) == 1)
            #expect(try reembedder.finishReembedding(model: "new-model", name: "acme/new-model", weights: weights,
                                                     dimension: testDimension))

            #expect(try reembedder.embeddingModel() == "new-model")
            #expect(try reembedder.embeddingModelName() == "acme/new-model", "the name moves with the fingerprint")
            #expect(try reembedder.embeddingModelWeights() == weights, "and so does the weights' digest")
            #expect(try reembedder.reembeddingUnderWay() == nil)
            #expect(try reembedder.existingVectors(ids: ["c0", "late"]).values.allSatisfy { $0 == axisVector(7) })
        }
    }

    @Test func aServerOnTheOldModelCanNeitherTakeInTheNewVectorsNorAddOldOnes() throws {
        try withTwo { server, reembedder, _ in
            _ = try reembedder.beginReembedding(model: "new-model", dimension: testDimension)
            _ = try stageAll(reembedder, axis: 7)
            #expect(try reembedder.finishReembedding(model: "new-model", name: "acme/new-model", weights: nil, dimension: testDimension))

            #expect(server.hasChangesFromOtherWriters())
            #expect(throws: KnowledgeStoreError.self) { try server.catchUpWithOtherWriters() }
            do {
                try server.catchUpWithOtherWriters()
            } catch let error as KnowledgeStoreError {
                #expect(error.reembeddedBy == "new-model")
            }
            // Its memory still holds the old vectors, which its model's queries match.
            #expect(try server.semanticSearch(vector: axisVector(3), limit: 1, technology: nil).map(\.id) == ["c3"])
            let more = [makeChunk("more", source: "more.md", axis: 4)]
            #expect(throws: KnowledgeStoreError.self) { try server.replaceSource(makeRecord("more.md", chunks: more), chunks: more) }
            #expect(try reembedder.chunks(ids: ["more"]).isEmpty)
        }
    }

    @Test func theWeightsDigestIsKeptWithItsModelAndForgottenWithIt() throws {
        try withTemporaryDirectory { directory in
            let store = try SQLiteKnowledgeStore(path: directory.appendingPathComponent("kb.sqlite").path,
                                                 dimension: testDimension, logger: quietLogger)
            // Empty: whichever model opens it takes it, and another model's weights go with it.
            #expect(try store.adoptEmbeddingModel("model-a", name: "a") == "model-a")
            #expect(try store.adoptEmbeddingModelWeights("aaaaaaaaaaaaaaaa") == "aaaaaaaaaaaaaaaa")
            #expect(try store.adoptEmbeddingModel("model-a", name: "a") == "model-a")
            #expect(try store.embeddingModelWeights() == "aaaaaaaaaaaaaaaa", "the same model keeps its weights")
            #expect(try store.adoptEmbeddingModel("api-model", name: "api") == "api-model")
            #expect(try store.embeddingModelWeights() == nil, "an API's model has none")
            // With passages stored, the first weights recorded stay.
            let chunks = [makeChunk("c0", ordinal: 0, axis: 0)]
            _ = try store.replaceSource(makeRecord(chunks: chunks), chunks: chunks)
            #expect(try store.adoptEmbeddingModelWeights("bbbbbbbbbbbbbbbb") == "bbbbbbbbbbbbbbbb")
            #expect(try store.adoptEmbeddingModelWeights("cccccccccccccccc") == "bbbbbbbbbbbbbbbb")
        }
    }

    @Test func aRunForTheSameFingerprintWithOtherWeightsStartsOver() throws {
        // Two fine-tunes of one model can share a fingerprint: a run one began is not the other's.
        try withTwo { _, reembedder, _ in
            _ = try reembedder.beginReembedding(model: "new-model", weights: "aaaaaaaaaaaaaaaa", dimension: testDimension)
            try reembedder.stage([(id: "c0", vector: axisVector(1))], model: "new-model", weights: "aaaaaaaaaaaaaaaa",
                                 dimension: testDimension)
            #expect(try reembedder.beginReembedding(model: "new-model", weights: "aaaaaaaaaaaaaaaa", dimension: testDimension).staged == 1)
            #expect(try reembedder.beginReembedding(model: "new-model", weights: "bbbbbbbbbbbbbbbb", dimension: testDimension).staged == 0)
            #expect(throws: KnowledgeStoreError.self) {
                try reembedder.stage([(id: "c1", vector: axisVector(2))], model: "new-model", weights: "aaaaaaaaaaaaaaaa",
                                     dimension: testDimension)
            }
            #expect(try reembedder.reembeddingUnderWay()?.model == "new-model")
        }
    }

    @Test func aRunForAnotherModelStartsOverAndTheSupersededRunCanNeitherStageNorSwap() throws {
        try withTwo { _, reembedder, path in
            _ = try reembedder.beginReembedding(model: "new-model", dimension: testDimension)
            try reembedder.stage([(id: "c0", vector: axisVector(1))], model: "new-model", dimension: testDimension)
            #expect(try reembedder.beginReembedding(model: "new-model", dimension: testDimension).staged == 1)
            #expect(throws: KnowledgeStoreError.self) {
                try reembedder.stage([(id: "c0", vector: [1, 0])], model: "new-model", dimension: testDimension)
            }
            // A second run, for another model, begins (another process): the first one's vectors go,
            // and what the first one still stages or swaps is refused.
            let other = try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            #expect(try other.beginReembedding(model: "third-model", dimension: testDimension).staged == 0)
            #expect(throws: KnowledgeStoreError.self) {
                try reembedder.stage([(id: "c1", vector: axisVector(2))], model: "new-model", dimension: testDimension)
            }
            #expect(try stageAll(other, model: "third-model", axis: 3) == 5)
            #expect(throws: KnowledgeStoreError.self) { try reembedder.finishReembedding(model: "new-model", name: "acme/new-model", weights: nil, dimension: testDimension) }
            #expect(try other.finishReembedding(model: "third-model", name: "acme/third-model", weights: nil, dimension: testDimension))
            #expect(try other.embeddingModel() == "third-model")
        }
    }

    @Test func theSwapLeavesNothingForTheOldCollectionAndUnbindsTheFolder() throws {
        try withTwo { server, reembedder, _ in
            #expect(try server.bindVectorTarget("chroma old-collection") == 6)  // five passages and their source
            _ = try reembedder.beginReembedding(model: "new-model", dimension: testDimension)
            _ = try stageAll(reembedder, axis: 7)
            #expect(try reembedder.finishReembedding(model: "new-model", name: "acme/new-model", weights: nil, dimension: testDimension))
            let pending = try reembedder.pendingVectorChanges(limit: 100)
            #expect(!pending.contains { if case .upsert = $0.operation { true } else { false } })
            // The next process with Chroma binds the new model's collection and queues everything for it.
            #expect(try reembedder.bindVectorTarget("chroma new-collection") == 6)
        }
    }

    @Test func aNewWidthIsRecordedSoTheStoreOpensOnlyAtIt() throws {
        try withTwo { _, reembedder, path in
            _ = try reembedder.beginReembedding(model: "wide-model", dimension: 2 * testDimension)
            #expect(try stageAll(reembedder, model: "wide-model", axis: 1, dimension: 2 * testDimension) == 5)
            #expect(try reembedder.finishReembedding(model: "wide-model", name: "acme/wide-model", weights: nil, dimension: 2 * testDimension))
            #expect(throws: KnowledgeStoreError.dimensionMismatch(stored: 2 * testDimension, loaded: testDimension, path: path)) {
                try SQLiteKnowledgeStore(path: path, dimension: testDimension, logger: quietLogger)
            }
            let reopened = try SQLiteKnowledgeStore(path: path, dimension: 2 * testDimension, logger: quietLogger)
            #expect(reopened.chunkCount() == 5)
            #expect(try reopened.embeddingModel() == "wide-model")
        }
    }
}
