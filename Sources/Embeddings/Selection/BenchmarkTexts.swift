/// Deterministic English-like texts of an exact length in word pieces: the startup benchmark that
/// chooses CPU or GPU, and `mcp-rag bench`.
public struct BenchmarkTexts: Sendable {
    private static let words = """
        the system stores documents and answers questions about configuration deployment retrieval vector \
        search embedding model server client request response timeout cache memory latency throughput index \
        query language network database connection pool thread process kernel library function module package \
        install update version error warning message log file folder path user setting option default value \
        performance benchmark measure result report table figure chart compare faster slower better larger \
        smaller because although however therefore while during after before between within without across
        """.split(separator: " ").map(String.init)

    let tokenizer: Tokenizer
    let maxLength: Int

    /// A generator using `tokenizer`'s word pieces, capped at `maxLength`.
    public init(tokenizer: Tokenizer, maxLength: Int) {
        self.tokenizer = tokenizer
        self.maxLength = maxLength
    }

    /// `count` different texts, each exactly `tokens` word pieces long (specials included) when the
    /// vocabulary allows, never longer than `maxLength`.
    public func texts(count: Int, tokens: Int) -> [String] {
        let target = min(tokens, maxLength)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            var text = ""
            var length = tokenizer.encode(text, maxLength: Int.max / 2).count
            while length < target {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                var word = Self.words[Int(state >> 33) % Self.words.count]
                var candidate = text.isEmpty ? word : text + " " + word
                var candidateLength = tokenizer.encode(candidate, maxLength: Int.max / 2).count
                if candidateLength > target {
                    // A word of several pieces overshot: finish with one-piece words instead.
                    word = "the"
                    candidate = text.isEmpty ? word : text + " " + word
                    candidateLength = tokenizer.encode(candidate, maxLength: Int.max / 2).count
                }
                // Stop rather than loop if the vocabulary cannot spell even that in one piece.
                guard candidateLength > length, candidateLength <= target else { break }
                text = candidate
                length = candidateLength
            }
            return text
        }
    }
}
