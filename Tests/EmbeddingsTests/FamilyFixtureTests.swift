import Foundation
import Testing

@testable import Embeddings

/// Tiny models of each transformer family with random weights and tokenizers trained for them
/// (`Fixtures/families`, made by tools/make_family_fixtures.py), against what sentence-transformers
/// computed with them: the same token ids, and vectors to a cosine of 0.99999, on the CPU and on the
/// GPU path's host emulation.
@Suite("transformer families")
struct FamilyFixtureTests {
    static let families = ["bert-cls", "bert-mean-e5", "roberta-bpe", "xlmr-unigram", "xlmr-unigram-hub"]

    private func fixture(_ family: String) throws -> (URL, [ExpectedEmbedding]) {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures/families/\(family)", withExtension: nil))
        return (folder, try ExpectedEmbedding.read(folder.appendingPathComponent("expected.jsonl")))
    }

    @Test("token ids and vectors as sentence-transformers gives them", arguments: families)
    func familyMatchesSentenceTransformers(_ family: String) throws {
        let (folder, expected) = try fixture(family)
        let embedder = try SentenceEmbedder(directory: folder, threads: 2)
        for work in [EmbeddingWork.queries, .passages] {
            let cases = expected.filter { $0.work == work }
            try #require(!cases.isEmpty)
            let ids = embedder.tokenizeAll(cases.map(\.text), for: work)
            let vectors = try embedder.embedBlocking(tokenized: ids, work: work)
            for (index, item) in cases.enumerated() {
                let label = "\(family), \(work): \(item.text.prefix(30).debugDescription)"
                #expect(ids[index] == item.inputIDs, "\(label): token ids")
                #expect(cosine(vectors[index], item.embedding) >= 0.99999, "\(label): cosine \(cosine(vectors[index], item.embedding))")
            }
        }
    }

    @Test("the GPU path's host emulation gives the same vectors", arguments: families)
    func gpuPathMatchesSentenceTransformers(_ family: String) throws {
        let (folder, expected) = try fixture(family)
        let embedder = try SentenceEmbedder(directory: folder, threads: 2)
        let gpu = try GPUBackend(weights: embedder.weights, device: HostComputeDevice(), maxTokensPerPass: 600)
        // Queries and passages: a model whose pooling leaves its prompt out pools them from other rows.
        for work in [EmbeddingWork.queries, .passages] {
            let cases = expected.filter { $0.work == work }
            try #require(!cases.isEmpty)
            let vectors = try gpu.embed(tokenized: cases.map(\.inputIDs), work: work)
            for (vector, item) in zip(vectors, cases) {
                #expect(cosine(vector, item.embedding) >= 0.99999, "\(family), \(work): \(item.text.prefix(30).debugDescription)")
            }
        }
    }

    @Test func aPaddingTokenWrittenInTheTextIsNotCountedAsAPosition() throws {
        let (folder, _) = try fixture("roberta-bpe")
        let embedder = try SentenceEmbedder(directory: folder, threads: 1)
        #expect(embedder.configuration.positions == PositionCounting(firstRow: 2, paddingID: 1))
        var rows: [Int] = []
        embedder.configuration.positions.forEachRow(of: [0, 100, 1, 101, 2]) { _, row in rows.append(row) }
        #expect(rows == [2, 3, 1, 4, 5])
        // The window is the position table less the rows before the first: 514 - 2.
        #expect(embedder.configuration.maxSequenceLength == 512)
    }
}
