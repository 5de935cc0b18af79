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
/// and digits are one word each (and one more for every further `lettersPerExtraToken` letters, as
/// a tokenizer cuts a long run into pieces), every other visible character one on its own. So is
/// each letter of the scripts written without spaces between words (CJK ideographs, kana, Thai,
/// Lao, Khmer, Myanmar): a sentence of them would otherwise count as one word, and its chunk reach
/// thousands of tokens.
enum WordCount {
    /// Few words of the languages written with spaces run longer; a run of letters with no break
    /// (an identifier, a digest, a word of a script counted as words) costs a tokenizer a piece
    /// for every few letters.
    static let lettersPerExtraToken = 10

    static func count(_ text: String) -> Int {
        var count = 0
        var run = 0
        for scalar in text.unicodeScalars {
            let properties = scalar.properties
            if properties.isWhitespace || properties.generalCategory == .control || properties.generalCategory == .format {
                run = 0
            } else if properties.isIdeographic || isWrittenWithoutSpaces(scalar) {
                // Before the test for digits: some ideographs are numbers too (京, ten quadrillion).
                count += 1
                run = 0
            } else if properties.isAlphabetic || properties.numericType != nil
                        || properties.generalCategory == .nonspacingMark || properties.generalCategory == .spacingMark {
                if run % lettersPerExtraToken == 0 { count += 1 }
                run += 1
            } else {
                count += 1
                run = 0
            }
        }
        return count
    }

    /// Letters of the scripts that do not separate words with spaces, beside the ideographs.
    private static func isWrittenWithoutSpaces(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0E00...0x0EFF,  // Thai, Lao
             0x1000...0x109F,  // Myanmar
             0x1780...0x17FF,  // Khmer
             0x3040...0x30FF, 0x31F0...0x31FF, 0xFF66...0xFF9F:  // hiragana, katakana, half-width katakana
            true
        default:
            false
        }
    }
}
