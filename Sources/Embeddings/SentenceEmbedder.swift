import Dispatch
import Foundation

/// A loaded sentence-transformers model: tokenizer, weights and a backend that runs them.
///
/// `embed` is safe to call from any task; the forward pass runs on a thread of its own, never on
/// Swift's cooperative pool.
public final class SentenceEmbedder: Sendable {
    /// The folder the model was loaded from.
    public let directory: URL
    /// The model's shape and sentence-transformers settings.
    public let configuration: ModelConfiguration
    /// The tokenizer that matches Hugging Face's ids.
    public let tokenizer: Tokenizer
    /// The weights, kept to build other backends (e.g. a GPU one) from the same files.
    public let weights: BertWeights
    /// The backend that runs the forward pass.
    public let backend: any EmbeddingBackend
    /// Seconds spent loading (files read, validated and weights prepared).
    public let loadSeconds: Double

    /// Width of the sentence vectors.
    public var dimension: Int { configuration.hiddenSize }

    /// The model's name: its Hugging Face repository (`owner/name`) for a snapshot in the Hugging
    /// Face cache, else its folder's name.
    public var name: String { Self.name(of: directory) }

    /// The name of the model in `directory` (see `name`), without loading it.
    public static func name(of directory: URL) -> String {
        let parts = directory.standardizedFileURL.pathComponents
        if parts.count >= 3, parts[parts.count - 2] == "snapshots", parts[parts.count - 3].hasPrefix("models--") {
            return String(parts[parts.count - 3].dropFirst("models--".count)).replacingOccurrences(of: "--", with: "/")
        }
        return directory.lastPathComponent
    }

    /// The tokens a passage may take, `[CLS]` and `[SEP]` included, so that it still fits the
    /// model's window behind the passage prompt.
    public var passageWindow: Int {
        let prompt = configuration.prompts.passage
        return configuration.maxSequenceLength - (prompt.isEmpty ? 0 : tokenize(prompt).count - 2)
    }

    /// Loads the model in `directory` with a CPU backend using `threads` workers (default: all cores).
    public convenience init(directory: URL, threads: Int? = nil) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        let (configuration, tokenizer, weights) = try Self.parts(of: directory)
        let backend = CPUBackend(weights: weights, threads: threads)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        self.init(directory: directory, configuration: configuration, tokenizer: tokenizer, weights: weights,
                  backend: backend, loadSeconds: seconds)
    }

    /// The model in `directory` read and checked (settings, tokenizer, weights), short of the
    /// backend that runs it: what loading it would refuse, this refuses with the same reason.
    static func parts(of directory: URL) throws -> (ModelConfiguration, Tokenizer, BertWeights) {
        var configuration = try ModelConfiguration(directory: directory)
        let tokenizer = try Tokenizer(modelDirectory: directory)
        let settings = configuration
        configuration.prompts.measure { Self.ids(of: $0, tokenizer: tokenizer, configuration: settings) }
        let weightsPath = directory.appendingPathComponent("model.safetensors").path
        let file = try SafeTensorsFile(path: weightsPath)
        let weights = try BertWeights(file: file, configuration: configuration)
        guard tokenizer.vocabularySize <= configuration.vocabularySize else {
            throw ModelLoadError.malformed(
                directory.path,
                "the tokenizer has \(tokenizer.vocabularySize) tokens but the model's embedding table only \(configuration.vocabularySize)")
        }
        return (configuration, tokenizer, weights)
    }

    /// Assembles an embedder from parts already loaded.
    public init(directory: URL, configuration: ModelConfiguration, tokenizer: Tokenizer, weights: BertWeights,
                backend: any EmbeddingBackend, loadSeconds: Double) {
        self.directory = directory
        self.configuration = configuration
        self.tokenizer = tokenizer
        self.weights = weights
        self.backend = backend
        self.loadSeconds = loadSeconds
    }

    /// Token ids for `text` as the model sees it: `[CLS] … [SEP]`, truncated to `maxSequenceLength`,
    /// with no prompt.
    public func tokenize(_ text: String) -> [Int32] {
        Self.ids(of: text, tokenizer: tokenizer, configuration: configuration)
    }

    /// Sentence vectors for `texts` (unit length where the model normalises), in order, each with
    /// `work`'s prompt before it, on the calling thread (which must be allowed to block): the
    /// server's embedding thread, or a command-line tool's own.
    public func embedBlocking(_ texts: [String], work: EmbeddingWork = .passages) throws -> [[Float]] {
        try backend.embed(tokenized: tokenizeAll(texts, for: work), work: work)
    }

    /// How many calls of ``embedQueriesBlocking(_:lane:)`` may run at once (its backend's lanes).
    public var queryLanes: Int { backend.queryLanes }

    /// `embedBlocking(texts, work: .queries)`'s vectors, computed on the calling thread alone in
    /// `lane`'s memory (`0..<queryLanes`): calls in different lanes run side by side.
    public func embedQueriesBlocking(_ texts: [String], lane: Int) throws -> [[Float]] {
        try backend.embedQueries(tokenized: tokenizeAll(texts, for: .queries), lane: lane)
    }

    /// Token ids for each text as the model reads it for `work`: the work's prompt first.
    public func tokenizeAll(_ texts: [String], for work: EmbeddingWork) -> [[Int32]] {
        let prompt = configuration.prompts.prompt(for: work)
        return tokenizeAll(prompt.isEmpty ? texts : texts.map { prompt + $0 })
    }

    /// `text`'s ids, lower-cased first where `do_lower_case` asks for lower-casing the tokenizer does
    /// not already do (sentence-transformers then puts a `Lowercase` normaliser before the tokenizer's own).
    private static func ids(of text: String, tokenizer: Tokenizer, configuration: ModelConfiguration) -> [Int32] {
        let lowercases = configuration.lowercasesInput && !tokenizer.lowercases
        return tokenizer.encode(lowercases ? lowercased(text) : text, maxLength: configuration.maxSequenceLength)
    }

    /// `text` lower-cased code point by code point, as the tokenizers library's `Lowercase` does.
    static func lowercased(_ text: String) -> String {
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            result.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        }
        return String(result)
    }

    /// Texts in a batch this large or larger are tokenised on several threads.
    static let parallelTokenizationThreshold = 32

    /// Token ids for every text, in order: on several threads for a large batch, so a fast backend
    /// (a GPU embeds a batch in milliseconds) does not wait for one core to tokenise it.
    public func tokenizeAll(_ texts: [String]) -> [[Int32]] {
        guard texts.count >= Self.parallelTokenizationThreshold else { return texts.map(tokenize) }
        let parts = min(ProcessInfo.processInfo.activeProcessorCount, texts.count / (Self.parallelTokenizationThreshold / 2))
        let results = UnsafeMutableBufferPointer<[Int32]>.allocate(capacity: texts.count)
        results.initialize(repeating: [])
        defer { results.deallocate() }  // runs after the deinitialize below
        let base = UncheckedSendable(results)
        DispatchQueue.concurrentPerform(iterations: max(parts, 1)) { part in
            let range = partRange(part, of: max(parts, 1), count: texts.count, alignment: 1)
            for index in range { base.value[index] = tokenize(texts[index]) }
        }
        defer { results.deinitialize() }
        return Array(results)
    }

    /// Vectors for sequences that are already tokenised (`tokenizeAll(_:for:)`, or for benchmarks
    /// that time the model alone).
    public func embedBlocking(tokenized sequences: [[Int32]], work: EmbeddingWork = .passages) throws -> [[Float]] {
        try backend.embed(tokenized: sequences, work: work)
    }
}

/// A value handed to concurrent workers that each touch a disjoint part of it.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
