import Foundation
import GPURuntime
import Testing

@testable import Embeddings

/// The sentence-transformers settings around the transformer, against sentence-transformers itself:
/// each variant of `Fixtures/settings` (made by tools/make_settings_fixtures.py) lays other settings
/// files over the real model's weights and tokenizer, and lists what sentence-transformers 6.2 gave
/// for each text as a query and as a passage.
@Suite("sentence-transformers settings")
struct EmbedderSettingsTests {
    static let variants = ["cls-query-instruction", "mean-e5-prefixes", "max-st6-unnormalized", "mean-sqrt-len",
                           "weightedmean", "lasttoken", "prompt-excluded", "default-prompt-lowercased",
                           "tokenizer-config-keeps-case", "tokenizer-config-silent"]

    /// The real model folder with the variant's settings files in place of its own.
    private func model(_ variant: String) throws -> (TemporaryFolder, [ExpectedEmbedding]) {
        let fixtures = try #require(Bundle.module.url(forResource: "Fixtures/settings/\(variant)", withExtension: nil))
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(),
                             excluding: ["modules.json", "1_Pooling", "sentence_bert_config.json", "config_sentence_transformers.json"])
        for name in ["modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json"] {
            let source = fixtures.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: source.path) else { continue }
            try folder.write(name, try String(contentsOf: source, encoding: .utf8))
        }
        let variantFile = fixtures.appendingPathComponent("variant.json")
        if FileManager.default.fileExists(atPath: variantFile.path) {
            // The tokenizer files changed as the script changes them: tokenizer.json's normaliser,
            // and tokenizer_config.json's settings (null takes one out).
            let change = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: variantFile)) as? [String: Any])
            func edit(_ name: String, _ body: (inout [String: Any]) throws -> Void) throws {
                var object = try #require(try JSONSerialization.jsonObject(
                    with: Data(contentsOf: folder.url.appendingPathComponent(name))) as? [String: Any])
                try body(&object)
                try folder.write(name, try JSONSerialization.data(withJSONObject: object))
            }
            if let normalizerChange = change["tokenizer_json"] as? [String: Any] {
                try edit("tokenizer.json") { tokenizer in
                    var normalizer = try #require(tokenizer["normalizer"] as? [String: Any])
                    normalizerChange.forEach { normalizer[$0.key] = $0.value }
                    tokenizer["normalizer"] = normalizer
                }
            }
            if let configChange = change["tokenizer_config"] as? [String: Any] {
                try edit("tokenizer_config.json") { config in
                    configChange.forEach { config[$0.key] = $0.value is NSNull ? nil : $0.value }
                }
            }
        }
        let expected = try ExpectedEmbedding.read(fixtures.appendingPathComponent("expected.jsonl"))
        return (folder, expected)
    }

    @Test("ids and vectors as sentence-transformers gives them", arguments: variants)
    func variantMatchesSentenceTransformers(_ variant: String) throws {
        let (folder, expected) = try model(variant)
        let embedder = try SentenceEmbedder(directory: folder.url, threads: 2)
        // Passages are cut to fit behind their prompt: "passage: " takes two word pieces.
        let promptPieces = embedder.configuration.prompts.passage.isEmpty ? 0
            : embedder.tokenize(embedder.configuration.prompts.passage).count - 2
        #expect(embedder.passageWindow == embedder.configuration.maxSequenceLength - promptPieces)
        if variant == "mean-e5-prefixes" { #expect(promptPieces == 2) }
        for work in [EmbeddingWork.queries, .passages] {
            let cases = expected.filter { $0.work == work }
            try #require(!cases.isEmpty)
            let prompt = embedder.configuration.prompts.prompt(for: work)
            // One call for all the texts: the batch must not change any of them.
            let vectors = try embedder.embedBlocking(cases.map(\.text), work: work)
            for (vector, item) in zip(vectors, cases) {
                let label = "\(variant), \(work): \(item.text.prefix(30).debugDescription)"
                #expect(embedder.tokenize(prompt + item.text) == item.inputIDs, "\(label): token ids")
                #expect(cosine(vector, item.embedding) >= 0.99999, "\(label): cosine \(cosine(vector, item.embedding))")
                let scale = item.embedding.map(abs).max() ?? 1
                #expect(maxAbsDifference(vector, item.embedding) <= 1e-5 * max(1, scale), "\(label): values")
            }
        }
    }

    @Test("the GPU path's host emulation pools as sentence-transformers does", arguments: variants)
    func gpuPathMatchesSentenceTransformers(_ variant: String) throws {
        let (folder, expected) = try model(variant)
        let embedder = try SentenceEmbedder(directory: folder.url, threads: 2)
        let gpu = try GPUBackend(weights: embedder.weights, device: HostComputeDevice(), maxTokensPerPass: 600)
        for work in [EmbeddingWork.queries, .passages] {
            let cases = expected.filter { $0.work == work }
            let vectors = try gpu.embed(tokenized: cases.map(\.inputIDs), work: work)
            for (vector, item) in zip(vectors, cases) {
                let label = "\(variant), \(work): \(item.text.prefix(30).debugDescription)"
                #expect(cosine(vector, item.embedding) >= 0.99999, "\(label): cosine \(cosine(vector, item.embedding))")
                let scale = item.embedding.map(abs).max() ?? 1
                #expect(maxAbsDifference(vector, item.embedding) <= 1e-4 * max(1, scale), "\(label): values")
            }
        }
    }

    @Test("pooled from one row, the last layer computed for that row alone gives the same vectors",
          arguments: ["cls-query-instruction", "lasttoken", "cls-after-excluded-instruction"])
    func lastLayerForThePooledRowsAlone(_ variant: String) throws {
        let excludesPrompt = variant == "cls-after-excluded-instruction"
        let (folder, expected) = try model(excludesPrompt ? "cls-query-instruction" : variant)
        if excludesPrompt {
            // CLS pooling that skips the query's instruction reads the first row after it.
            try folder.write("1_Pooling/config.json", #"{"embedding_dimension":384,"pooling_mode":"cls","include_prompt":false}"#)
        }
        let embedder = try SentenceEmbedder(directory: folder.url, threads: 2)
        #expect([PoolingMode.cls, .lastToken].contains(embedder.configuration.pooling))
        if excludesPrompt { #expect(embedder.configuration.prompts.tokensExcludedFromPooling(for: .queries) > 1) }
        for smallRowKernel in [true, false] {
            let full = CPUBertEncoder(weights: embedder.weights, threadCount: 2, smallRowKernel: smallRowKernel,
                                      lastLayerPooledRowsOnly: false)
            let pooledOnly = CPUBertEncoder(weights: embedder.weights, threadCount: 2, smallRowKernel: smallRowKernel)
            for work in [EmbeddingWork.queries, .passages] {
                // Texts of many lengths in one call, so that the pooled rows are gathered from a
                // pass of several sequences; and each alone.
                let texts = expected.map(\.text) + ["a", String(repeating: "word ", count: 300)]
                let ids = embedder.tokenizeAll(texts, for: work)
                let pooledFrom = embedder.configuration.prompts.tokensExcludedFromPooling(for: work)
                #expect(pooledOnly.lastLayerRows(of: ids, pooledFrom: pooledFrom)?.count == ids.count)
                #expect(full.lastLayerRows(of: ids, pooledFrom: pooledFrom) == nil)
                let together = (pooledOnly.encode(ids, work: work), full.encode(ids, work: work))
                let alone = ids.map { (pooledOnly.encode([$0], work: work)[0], full.encode([$0], work: work)[0]) }
                for (index, text) in texts.enumerated() {
                    let label = "\(variant), \(work), kernel \(smallRowKernel): \(text.prefix(30).debugDescription)"
                    for (ours, reference) in [(together.0[index], together.1[index]), alone[index]] {
                        #expect(ours.count == reference.count && !ours.isEmpty, "\(label)")
                        #expect(maxAbsDifference(ours, reference) <= 2e-6, "\(label): \(maxAbsDifference(ours, reference))")
                        if work == .queries && pooledOnly.packedLayers != nil {
                            #expect(ours == reference, "\(label): the pooled row alone, bit for bit")
                        }
                    }
                    if work == .queries && pooledOnly.packedLayers != nil {
                        // Queries stay row-stable: the same bits alone as with other queries.
                        #expect(together.0[index] == alone[index].0, "\(label): batched")
                    }
                }
            }
        }
    }

    @Test("prompts: a query's instruction, e5's two prefixes, a default, or none")
    func promptsAreResolved() throws {
        let expectations: [(String, String, String)] = [
            ("cls-query-instruction", "Represent this sentence for searching relevant passages: ", ""),
            ("mean-e5-prefixes", "query: ", "passage: "),
            // "document" is empty there, as sentence-transformers 6 writes it: the passage prompt is used.
            ("prompt-excluded", "Find the passage that answers: ", "Passage: "),
            ("default-prompt-lowercased", "Text: ", "Text: "),
            ("weightedmean", "", ""),
        ]
        for (variant, query, passage) in expectations {
            let (folder, _) = try model(variant)
            let configuration = try ModelConfiguration(directory: folder.url)
            #expect(configuration.prompts.query == query, "\(variant)")
            #expect(configuration.prompts.passage == passage, "\(variant)")
        }
    }

    @Test("a folder without modules.json is run as sentence-transformers runs it: mean pooling, no Normalize")
    func aPlainTransformersFolderIsNotNormalised() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["modules.json", "1_Pooling"])
        let embedder = try SentenceEmbedder(directory: folder.url, threads: 2)
        #expect(!embedder.configuration.normalize && embedder.configuration.pooling == .mean)
        let vector = try embedder.embedBlocking(["a plain transformers folder"], work: .passages)[0]
        let norm = vector.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(abs(norm - 1) > 0.01, "the mean of the token vectors, as it is: \(norm)")
        // The same model with its modules: the same direction, at unit length.
        let normalised = try SentenceEmbedder(directory: try realModelDirectory(), threads: 2)
            .embedBlocking(["a plain transformers folder"], work: .passages)[0]
        let cosine = zip(vector, normalised).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } / norm
        #expect(abs(cosine - 1) < 1e-5)
    }
}
