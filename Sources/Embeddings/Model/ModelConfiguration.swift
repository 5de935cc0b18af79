import Foundation

/// How token vectors become one sentence vector (the pooling module's `config.json`), by
/// sentence-transformers' names. Each reads the tokens that count (all of them, or those after the
/// prompt where the pooling excludes it).
public enum PoolingMode: String, Sendable {
    /// The average of the tokens' vectors.
    case mean
    /// The vector of the first token that counts (`[CLS]`, unless a prompt is excluded).
    case cls
    /// Each dimension's largest value over the tokens.
    case max
    /// The tokens' sum divided by the square root of their count.
    case meanSqrtLength = "mean_sqrt_len_tokens"
    /// The average weighted by position (1 for the first token of the sequence, 2 for the second…).
    case weightedMean = "weightedmean"
    /// The vector of the last token.
    case lastToken = "lasttoken"
}

/// Which row of the position table each token reads.
///
/// BERT counts from row 0. RoBERTa and XLM-RoBERTa count from `padding_idx + 1`, and a padding
/// token written in the text itself reads row `padding_idx` without being counted (transformers'
/// `create_position_ids_from_input_ids`), so the tokens after it read the rows they would without it.
public struct PositionCounting: Sendable, Equatable {
    /// The row of the first token.
    public var firstRow: Int
    /// The token that is not counted, and reads `firstRow - 1`; nil for BERT.
    public var paddingID: Int32?

    public init(firstRow: Int = 0, paddingID: Int32? = nil) {
        self.firstRow = firstRow
        self.paddingID = paddingID
    }

    /// BERT's: every token in turn, from row 0.
    public static let bert = PositionCounting()

    /// Calls `body` with each token's index and row, in order.
    @inline(__always)
    public func forEachRow(of sequence: [Int32], _ body: (_ index: Int, _ row: Int) -> Void) {
        var next = firstRow
        for (index, id) in sequence.enumerated() {
            if let paddingID, id == paddingID {
                body(index, firstRow - 1)
            } else {
                body(index, next)
                next += 1
            }
        }
    }
}

/// The shape of a BERT-family encoder (BERT, RoBERTa, XLM-RoBERTa) and the sentence-transformers
/// settings around it, read from a Hugging Face model folder.
public struct ModelConfiguration: Sendable, Equatable {
    /// Width of every token vector (384 for all-MiniLM-L6-v2).
    public var hiddenSize: Int
    /// Number of encoder layers.
    public var layerCount: Int
    /// Number of attention heads; `hiddenSize` must be a multiple of it.
    public var headCount: Int
    /// Width of the feed-forward layer.
    public var intermediateSize: Int
    /// Rows of the word-embedding table.
    public var vocabularySize: Int
    /// Rows of the position-embedding table.
    public var maxPositions: Int
    /// Which row each token reads (RoBERTa's start past its padding row).
    public var positions: PositionCounting
    /// The `model_type` of `config.json`: bert, roberta or xlm-roberta.
    public var architecture: String
    /// Rows of the token-type table.
    public var typeVocabularySize: Int
    /// Epsilon of every LayerNorm.
    public var layerNormEpsilon: Float
    /// Longest input in word pieces, `[CLS]` and `[SEP]` included (sentence-transformers' `max_seq_length`).
    public var maxSequenceLength: Int
    /// Pooling applied to the last layer's token vectors.
    public var pooling: PoolingMode
    /// Whether sentence vectors are scaled to unit length (a `Normalize` module in `modules.json`).
    public var normalize: Bool
    /// Whether text is lower-cased before tokenisation (`do_lower_case` in `sentence_bert_config.json`).
    public var lowercasesInput: Bool
    /// The prompts put before queries and passages.
    public var prompts: EmbeddingPrompts

    /// Width of one attention head.
    public var headSize: Int { hiddenSize / headCount }

    /// The all-MiniLM-L6-v2 configuration, used by tests that build small synthetic models.
    public init(
        hiddenSize: Int = 384, layerCount: Int = 6, headCount: Int = 12, intermediateSize: Int = 1536,
        vocabularySize: Int = 30522, maxPositions: Int = 512, positions: PositionCounting = .bert,
        architecture: String = "bert", typeVocabularySize: Int = 2,
        layerNormEpsilon: Float = 1e-12, maxSequenceLength: Int = 256, pooling: PoolingMode = .mean,
        normalize: Bool = true, lowercasesInput: Bool = false, prompts: EmbeddingPrompts = EmbeddingPrompts()
    ) {
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.vocabularySize = vocabularySize
        self.maxPositions = maxPositions
        self.positions = positions
        self.architecture = architecture
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEpsilon = layerNormEpsilon
        self.maxSequenceLength = maxSequenceLength
        self.pooling = pooling
        self.normalize = normalize
        self.lowercasesInput = lowercasesInput
        self.prompts = prompts
    }

    /// Reads `config.json` and the sentence-transformers files (see `SentenceTransformerSettings`)
    /// from `directory`; only `config.json` is required.
    public init(directory: URL) throws {
        let configPath = directory.appendingPathComponent("config.json").path
        let config = try ModelFiles.readJSONObject(configPath, required: true) ?? [:]

        let modelType = config["model_type"] as? String
        guard let modelType, ["bert", "roberta", "xlm-roberta"].contains(modelType) else {
            throw ModelLoadError.unsupported(
                configPath, "model_type is \(modelType.map { "'\($0)'" } ?? "missing"); only 'bert', 'roberta' and 'xlm-roberta' are supported")
        }
        architecture = modelType
        if let activation = config["hidden_act"] as? String, activation != "gelu" {
            throw ModelLoadError.unsupported(configPath, "hidden_act '\(activation)' is not supported; only 'gelu' (exact erf) is")
        }
        if let positions = config["position_embedding_type"] as? String, positions != "absolute" {
            throw ModelLoadError.unsupported(configPath, "position_embedding_type '\(positions)' is not supported; only 'absolute' is")
        }
        func integer(_ key: String) throws -> Int {
            guard let value = config[key] as? Int, value > 0 else {
                throw ModelLoadError.malformed(configPath, "'\(key)' is missing or not a positive integer")
            }
            return value
        }
        hiddenSize = try integer("hidden_size")
        layerCount = try integer("num_hidden_layers")
        headCount = try integer("num_attention_heads")
        intermediateSize = try integer("intermediate_size")
        vocabularySize = try integer("vocab_size")
        maxPositions = try integer("max_position_embeddings")
        if modelType == "bert" {
            positions = .bert
        } else {
            // RoBERTa's embeddings take padding_idx from pad_token_id (1 in every published model).
            let padding = (config["pad_token_id"] as? Int) ?? 1
            guard padding >= 0, padding < maxPositions - 1, let paddingID = Int32(exactly: padding) else {
                throw ModelLoadError.malformed(configPath, "pad_token_id \(padding) leaves no position rows after it")
            }
            positions = PositionCounting(firstRow: padding + 1, paddingID: paddingID)
        }
        typeVocabularySize = (config["type_vocab_size"] as? Int) ?? 2
        layerNormEpsilon = Float((config["layer_norm_eps"] as? Double) ?? 1e-12)
        guard hiddenSize % headCount == 0 else {
            throw ModelLoadError.malformed(configPath, "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(headCount)")
        }
        guard typeVocabularySize > 0 else {
            throw ModelLoadError.malformed(configPath, "type_vocab_size must be at least 1")
        }

        let settings = try SentenceTransformerSettings(directory: directory)
        // Without max_seq_length, sentence-transformers reads as far as the positions reach; one
        // past them is cut there (sentence-transformers would fail on a text that long).
        let reachable = maxPositions - positions.firstRow
        maxSequenceLength = min(settings.maxSequenceLength ?? reachable, reachable)
        guard maxSequenceLength >= 2 else {
            throw ModelLoadError.malformed(directory.appendingPathComponent("sentence_bert_config.json").path,
                                           "max_seq_length \(maxSequenceLength) leaves no room for [CLS] and [SEP]")
        }
        pooling = settings.pooling
        normalize = settings.normalize
        lowercasesInput = settings.lowercasesInput
        prompts = settings.prompts
    }
}

/// Reading the JSON files of a model folder, with errors that name the file.
enum ModelFiles {
    static func readJSONObject(_ path: String, required: Bool) throws -> [String: Any]? {
        guard let data = try readFile(path, required: required) else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelLoadError.malformed(path, "not a JSON object")
        }
        return object
    }

    static func readJSONArray(_ path: String) throws -> [[String: Any]]? {
        guard let data = try readFile(path, required: false) else { return nil }
        guard let array = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw ModelLoadError.malformed(path, "not a JSON array of objects")
        }
        return array
    }

    private static func readFile(_ path: String, required: Bool) throws -> Data? {
        guard FileManager.default.fileExists(atPath: path) else {
            if required { throw ModelLoadError.notFound(path, "the file does not exist") }
            return nil
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ModelLoadError.unreadable(path, "cannot read the file: \(error.localizedDescription)")
        }
    }
}
