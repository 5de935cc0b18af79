import Embeddings
import EmbeddingsAPI
import Resilience

/// An embeddings API (`MCP_RAG_EMBEDDINGS_URL`) as the knowledge base's model.
///
/// Every call goes through a circuit breaker, so an API that is down costs a query one fast
/// failure (it then answers by keywords, saying why) rather than a timeout each. One attempt per
/// call: the embedding service retries passages (`EmbeddingService.embed`), waiting off its thread.
package struct APIEmbeddingModel: EmbeddingModel {
    package let client: EmbeddingsAPIClient
    package let breaker: CircuitBreaker
    package let dimension: Int

    /// The API's passages are cut by words, as its tokenizer is not known here: a word or a
    /// punctuation mark is one token or more, so 254 of them are about 330 word pieces in English,
    /// inside the 512 that embedding models read (servers truncate longer input, or refuse it).
    static let windowWords = 256

    package init(client: EmbeddingsAPIClient, breaker: CircuitBreaker, dimension: Int) {
        self.client = client
        self.breaker = breaker
        self.dimension = dimension
    }

    package var name: String { client.configuration.model }
    package var location: String { client.configuration.endpoint }
    package var backendName: String { "api" }
    /// The client scales every vector it is sent to unit length.
    package var normalizes: Bool { true }
    package var local: SentenceEmbedder? { nil }
    package var passageWindow: Int { Self.windowWords }
    package var bulkJobSize: Int? { client.configuration.batchSize }

    package func passageChunker(fillingWindow: Bool) -> Chunker {
        Chunker(tokenCount: WordCount.count, targetTokens: fillingWindow ? Self.windowWords : 200,
                maxTokens: passageWindow - 2)
    }

    package func embed(_ texts: [String], work: EmbeddingWork) throws -> [[Float]] {
        let purpose: EmbeddingsAPIClient.Purpose = work == .queries ? .query : .passage
        return try breaker.run(isFailure: { ($0 as? EmbeddingsAPIError)?.countsAsOutage ?? true }) {
            try client.embed(texts, for: purpose, dimension: dimension)
        }
    }
}

/// Counts words and punctuation marks, as a BERT-style pre-tokenizer splits text: runs of letters
/// and digits are one word each, every other visible character (and every CJK ideograph, written
/// without spaces) one on its own.
enum WordCount {
    static func count(_ text: String) -> Int {
        var count = 0
        var inWord = false
        for scalar in text.unicodeScalars {
            let properties = scalar.properties
            if properties.isWhitespace || properties.generalCategory == .control || properties.generalCategory == .format {
                inWord = false
            } else if properties.isIdeographic {
                // Before the test for digits: some ideographs are numbers too (京, ten quadrillion).
                count += 1
                inWord = false
            } else if properties.isAlphabetic || properties.numericType != nil
                        || properties.generalCategory == .nonspacingMark || properties.generalCategory == .spacingMark {
                if !inWord { count += 1 }
                inWord = true
            } else {
                count += 1
                inWord = false
            }
        }
        return count
    }
}
