import Embeddings
import Foundation
import Testing

@Suite("Embeddings against sentence-transformers")
struct EmbedderTests {
    @Test("all 80 golden texts: identical ids, cosine ≥ 0.99999, max abs diff ≤ 1e-4")
    func golden() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory())
        let cases = try goldenCases()
        #expect(cases.count == 80)
        let vectors = try embedder.embedBlocking(cases.map(\.text))
        for (golden, vector) in zip(cases, vectors) {
            #expect(embedder.tokenize(golden.text) == golden.inputIDs, "ids differ for \(golden.text.debugDescription)")
            #expect(vector.count == 384)
            #expect(cosine(vector, golden.embedding) >= 0.99999, "cosine too low for \(golden.text.debugDescription)")
            #expect(maxAbsDifference(vector, golden.embedding) <= 1e-4, "max abs diff too high for \(golden.text.debugDescription)")
        }
    }

    @Test("a text's embedding does not depend on its batch (1 vs 64 texts: max abs diff ≤ 1e-5)")
    func batchInvariance() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory())
        let cases = try goldenCases()
        // 64 texts of mixed lengths, some repeated, in an order unlike the length order.
        let texts = (0..<64).map { cases[($0 * 37) % cases.count].text }
        let batched = try embedder.embedBlocking(texts)
        for (text, vector) in zip(texts, batched) {
            let alone = try embedder.embedBlocking([text])[0]
            #expect(maxAbsDifference(alone, vector) <= 1e-5, "batch changed the vector of \(text.debugDescription)")
        }
    }

    @Test("empty and whitespace-only texts give [CLS] [SEP] and a finite unit vector")
    func emptyTexts() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory())
        for text in ["", " ", "\t\n  \r\n", "\u{200B}\u{00A0}"] {
            #expect(embedder.tokenize(text) == [101, 102])
            let vector = try embedder.embedBlocking([text])[0]
            #expect(vector.allSatisfy { $0.isFinite })
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-5)
        }
        // Every empty text is the same input to the model, so the same vector.
        let vectors = try embedder.embedBlocking(["", "   "])
        #expect(vectors[0] == vectors[1])
    }

    @Test("texts past 256 word pieces are truncated to 256 and embed like their first 254 pieces")
    func longTexts() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory())
        let words = (0..<600).map { "word\($0 % 17)" }
        let long = words.joined(separator: " ")
        let ids = embedder.tokenize(long)
        #expect(ids.count == 256)
        #expect(ids.first == 101 && ids.last == 102)
        // Appending more text past the cut must not change the vector.
        let longer = long + " and then a great deal more text that is cut away"
        let vectors = try embedder.embedBlocking([long, longer])
        #expect(maxAbsDifference(vectors[0], vectors[1]) == 0)
    }
}

@Suite("Token input the model cannot run")
struct EmbeddingInputTests {
    @Test("empty, too long and out-of-vocabulary sequences are refused before any work")
    func refused() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory())
        let good: [Int32] = [101, 7592, 102]
        let cases: [([Int32], String)] = [
            ([], "no tokens"),
            (Array(repeating: 7592, count: 257), "257 tokens"),
            ([101, 30522, 102], "30522"),
            ([101, -1, 102], "-1"),
        ]
        for (bad, fragment) in cases {
            let error = #expect(throws: EmbeddingInputError.self) { try embedder.embedBlocking(tokenized: [good, bad]) }
            #expect(error?.index == 1)
            #expect(error?.problem.contains(fragment) == true, "\(error?.problem ?? "")")
        }
        // The embedder still works afterwards.
        #expect(try embedder.embedBlocking(tokenized: [good])[0].count == 384)
    }
}

@Suite("Benchmark inputs")
struct BenchmarkTextTests {
    @Test("generated texts have exactly the requested number of word pieces, and differ")
    func exactLengths() throws {
        let tokenizer = try Tokenizer(modelDirectory: try realModelDirectory())
        let generator = BenchmarkTexts(tokenizer: tokenizer, maxLength: 256)
        for length in [3, 32, 240] {
            let texts = generator.texts(count: 8, tokens: length)
            #expect(texts.allSatisfy { tokenizer.encode($0, maxLength: 1000).count == length })
            #expect(Set(texts).count > 1)
        }
        // Never longer than the model reads.
        #expect(generator.texts(count: 1, tokens: 400).allSatisfy { tokenizer.encode($0, maxLength: 1000).count == 256 })
    }
}
