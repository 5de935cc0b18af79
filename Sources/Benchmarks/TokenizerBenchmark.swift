import Embeddings
import Foundation

/// How fast one thread tokenises: the figures `mcp-rag bench` reports.
public struct TokenizerBenchmarkResult: Sendable, CustomStringConvertible {
    /// Texts encoded during the timed part.
    public let texts: Int
    /// Ids produced, the start and end tokens included.
    public let tokens: Int
    /// Input size encoded, in UTF-8 bytes.
    public let bytes: Int
    /// Wall-clock time of the timed part.
    public let seconds: Double

    /// Ids per second on one thread.
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
    /// Texts per second on one thread.
    public var textsPerSecond: Double { seconds > 0 ? Double(texts) / seconds : 0 }
    /// Input megabytes (10^6 bytes) per second on one thread.
    public var megabytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds / 1e6 : 0 }

    /// A one-line summary.
    public var description: String {
        String(
            format: "%.0f tokens/s, %.0f texts/s, %.1f MB/s (%d texts, %d tokens in %.3f s, one thread)",
            tokensPerSecond, textsPerSecond, megabytesPerSecond, texts, tokens, seconds)
    }
}

extension Tokenizer {
    /// Ordinary English prose (130 ids with [CLS] and [SEP]): the default benchmark input.
    public static let benchmarkSampleText = """
        The history of the printing press begins in the fifteenth century, when Johannes Gutenberg \
        combined movable metal type, oil-based ink and a wooden press adapted from wine making. Within \
        fifty years, presses were running in more than two hundred European cities, and millions of \
        books had been printed. Scholars argue about how much credit a single inventor deserves, but few \
        doubt the consequences: cheaper books spread literacy, standardised spelling, and let new ideas \
        travel faster than any authority could suppress them. Today we face a similar shift, as software \
        that reads and writes text changes how people search for information, learn new skills, and decide \
        what to believe.
        """

    /// Tokens per second that `tokenizer` reaches on one thread: what `mcp-rag bench` reports.
    ///
    /// The same measurement as `benchmark(texts:maxLength:minimumSeconds:)`, reduced to its headline.
    public static func benchmarkTokensPerSecond(
        tokenizer: Tokenizer, texts: [String]? = nil, maxLength: Int = 512, minimumSeconds: Double = 0.5
    ) -> Double {
        tokenizer.benchmark(texts: texts, maxLength: maxLength, minimumSeconds: minimumSeconds).tokensPerSecond
    }

    /// Encodes `texts` over and over on the calling thread for at least `minimumSeconds` and reports
    /// the throughput (after one untimed warm-up pass).
    ///
    /// - Parameters:
    ///   - texts: the inputs; by default a few variants of `benchmarkSampleText`.
    ///   - maxLength: passed to `encode`; the default is large enough not to truncate the sample.
    public func benchmark(
        texts: [String]? = nil, maxLength: Int = 512, minimumSeconds: Double = 0.5
    ) -> TokenizerBenchmarkResult {
        let inputs = texts ?? [
            Self.benchmarkSampleText,
            Self.benchmarkSampleText.uppercased(),
            Self.benchmarkSampleText.replacingOccurrences(of: ", ", with: "; "),
            String(Self.benchmarkSampleText.prefix(200)),
        ]
        guard !inputs.isEmpty else { return TokenizerBenchmarkResult(texts: 0, tokens: 0, bytes: 0, seconds: 0) }
        var checksum = 0
        for text in inputs { checksum &+= encode(text, maxLength: maxLength).count }
        var texts = 0
        var tokens = 0
        var bytes = 0
        let clock = ContinuousClock()
        let start = clock.now
        var elapsed = Duration.zero
        repeat {
            for text in inputs {
                tokens += encode(text, maxLength: maxLength).count
                bytes += text.utf8.count
            }
            texts += inputs.count
            elapsed = clock.now - start
        } while elapsed < .seconds(minimumSeconds)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        // Keeps the warm-up from being optimised away.
        if checksum == -1 { print(checksum) }
        return TokenizerBenchmarkResult(texts: texts, tokens: tokens, bytes: bytes, seconds: seconds)
    }
}
