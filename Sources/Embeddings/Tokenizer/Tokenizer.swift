import Foundation

/// The tokenizer a model folder describes, giving exactly the ids Hugging Face `tokenizers` gives:
/// BERT's WordPiece (`BertTokenizer`), RoBERTa's byte-level BPE (`ByteLevelBPETokenizer`) or
/// XLM-RoBERTa's SentencePiece Unigram (`UnigramTokenizer`).
///
/// Immutable, so `encode` may be called from any number of threads at once.
public struct Tokenizer: Sendable {
    enum Model: Sendable {
        case wordPiece(BertTokenizer)
        case byteLevelBPE(ByteLevelBPETokenizer)
        case unigram(UnigramTokenizer)
    }

    let model: Model

    /// Reads the folder's `tokenizer.json`, else its `vocab.txt` (WordPiece only).
    ///
    /// - Throws: `ModelLoadError` naming the file and what it cannot run exactly.
    public init(modelDirectory: URL) throws {
        switch try TokenizerFiles.loadAny(directory: modelDirectory) {
        case .wordPiece(let spec): model = .wordPiece(try BertTokenizer(spec: spec))
        case .byteLevelBPE(let tokenizer): model = .byteLevelBPE(tokenizer)
        case .unigram(let tokenizer): model = .unigram(tokenizer)
        }
    }

    /// A WordPiece tokenizer already built.
    public init(_ wordPiece: BertTokenizer) {
        model = .wordPiece(wordPiece)
    }

    /// Token ids with the model's start token first and end token last, at most `maxLength` (at
    /// least 2) in all: the text's own tokens are cut to `maxLength - 2`.
    public func encode(_ text: String, maxLength: Int) -> [Int32] {
        switch model {
        case .wordPiece(let tokenizer): tokenizer.encode(text, maxLength: maxLength)
        case .byteLevelBPE(let tokenizer): tokenizer.encode(text, maxLength: maxLength)
        case .unigram(let tokenizer): tokenizer.encode(text, maxLength: maxLength)
        }
    }

    /// One more than the largest id it can produce: the embedding table's row count at least.
    public var vocabularySize: Int {
        switch model {
        case .wordPiece(let tokenizer): tokenizer.vocabularySize
        case .byteLevelBPE(let tokenizer): tokenizer.vocabularySize
        case .unigram(let tokenizer): tokenizer.vocabularySize
        }
    }

    /// Whether it lower-cases text itself (so `do_lower_case` needs no pass of its own).
    public var lowercases: Bool {
        if case .wordPiece(let tokenizer) = model { tokenizer.normalizerOptions.lowercase } else { false }
    }

    /// The id batches are padded with.
    public var padID: Int32 {
        switch model {
        case .wordPiece(let tokenizer): tokenizer.padID
        case .byteLevelBPE(let tokenizer): tokenizer.frame.padID
        case .unigram(let tokenizer): tokenizer.frame.padID
        }
    }

    /// The token with this id.
    public func token(forID id: Int32) -> String? {
        switch model {
        case .wordPiece(let tokenizer): tokenizer.token(forID: id)
        case .byteLevelBPE(let tokenizer): tokenizer.token(forID: id)
        case .unigram(let tokenizer): tokenizer.token(forID: id)
        }
    }

    /// The id of this exact token, if there is one.
    public func id(forToken token: String) -> Int32? {
        switch model {
        case .wordPiece(let tokenizer): tokenizer.id(forToken: token)
        case .byteLevelBPE(let tokenizer): tokenizer.id(forToken: token)
        case .unigram(let tokenizer): tokenizer.id(forToken: token)
        }
    }

    /// Which kind it is, for reports: `WordPiece`, `BPE` or `Unigram`.
    public var kind: String {
        switch model {
        case .wordPiece: "WordPiece"
        case .byteLevelBPE: "BPE"
        case .unigram: "Unigram"
        }
    }
}
