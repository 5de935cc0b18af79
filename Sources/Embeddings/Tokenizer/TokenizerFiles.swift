import Foundation
import StrictJSON

/// Everything a `BertTokenizer` is built from, whether read from files or given in code.
struct TokenizerSpec {
    /// The file (or folder) named in errors about this spec.
    var source: String
    /// The vocabulary tokens' UTF-8 bytes, back to back, and where each token lies in it.
    var arena: [UInt8] = []
    var tokens: [(offset: Int, length: Int, id: Int32)] = []
    var unknownToken = "[UNK]"
    var continuingSubwordPrefix = "##"
    var maxInputCharsPerWord = 100
    var normalizer = BertNormalizerOptions()
    var addedTokens: [AddedToken] = []
    /// Special tokens to match in the raw text if, and only if, the vocabulary has them (vocab.txt).
    var vocabularySpecialTokens: [String] = []
    /// The tokens wrapped around every sequence, with their id when the file states it.
    var cls: (token: String, id: Int32?) = ("[CLS]", nil)
    var sep: (token: String, id: Int32?) = ("[SEP]", nil)
    var pad: (token: String, id: Int32?) = ("[PAD]", nil)

    init(source: String) {
        self.source = source
    }

    mutating func appendToken(_ token: String, id: Int32) {
        let offset = arena.count
        arena.append(contentsOf: token.utf8)
        tokens.append((offset, arena.count - offset, id))
    }
}

/// Reads a model folder's tokenizer files into a `TokenizerSpec`.
///
/// `tokenizer.json` is preferred because it states everything (vocabulary, normaliser, added tokens);
/// `vocab.txt` (+ `tokenizer_config.json`) is what older checkpoints ship, and transformers builds
/// the same pipeline from it. The `truncation` and `padding` sections of `tokenizer.json` are
/// deliberately ignored: sentence-transformers ignores them, and the caller chooses `maxLength`.
enum TokenizerFiles {
    /// Ids beyond the token count by more than this are refused rather than allocated for.
    private static let idSlack = 1_000_000

    /// What a folder's tokenizer files describe.
    enum Loaded {
        case wordPiece(TokenizerSpec)
        case byteLevelBPE(ByteLevelBPETokenizer)
        case unigram(UnigramTokenizer)
    }

    /// A WordPiece tokenizer's spec; a folder with another kind is refused.
    static func load(directory: URL) throws(ModelLoadError) -> TokenizerSpec {
        switch try loadAny(directory: directory) {
        case .wordPiece(let spec): return spec
        case .byteLevelBPE, .unigram:
            throw .unsupported(directory.appendingPathComponent("tokenizer.json").path,
                               "describes a BPE or Unigram tokenizer where a WordPiece one was expected")
        }
    }

    /// The tokenizer the folder describes, whichever kind it is.
    static func loadAny(directory: URL) throws(ModelLoadError) -> Loaded {
        let fileManager = FileManager.default
        let tokenizerJSON = directory.appendingPathComponent("tokenizer.json")
        let vocabText = directory.appendingPathComponent("vocab.txt")
        if fileManager.fileExists(atPath: tokenizerJSON.path) {
            let root = try parseJSON(try readBytes(tokenizerJSON), path: tokenizerJSON.path)
            let declared = try declaredTokenizer(directory: directory)
            switch root["model"]?["type"]?.string {
            case "BPE":
                let pipeline = declared.flatMap { ["RobertaTokenizer", "RobertaTokenizerFast"].contains($0.name)
                    ? ByteLevelBPETokenizer.TransformersPipeline(addPrefixSpace: $0.addPrefixSpace ?? false) : nil }
                return .byteLevelBPE(try ByteLevelBPETokenizer(json: root, path: tokenizerJSON.path, pipeline: pipeline))
            case "Unigram":
                let pipeline = declared.flatMap { ["XLMRobertaTokenizer", "XLMRobertaTokenizerFast"].contains($0.name)
                    ? UnigramTokenizer.TransformersPipeline(addPrefixSpace: $0.addPrefixSpace ?? true) : nil }
                return .unigram(try UnigramTokenizer(json: root, path: tokenizerJSON.path, pipeline: pipeline))
            default: break
            }
            // BERT's class (named, or chosen by transformers from config.json's model_type when
            // none is): transformers builds its normaliser from tokenizer_config.json (defaults
            // where it is silent) and its pre-tokenizer itself, whatever tokenizer.json holds.
            let isBERT: Bool
            if let name = declared?.name {
                isBERT = ["BertTokenizer", "BertTokenizerFast"].contains(name)
            } else {
                isBERT = try modelType(directory: directory) == "bert"
            }
            let normalizer = isBERT ? try bertNormalizer(config: declared?.config, path: declared?.path ?? "") : nil
            return .wordPiece(try wordPieceSpec(root, path: tokenizerJSON.path, transformersNormalizer: normalizer))
        }
        if fileManager.fileExists(atPath: vocabText.path) {
            return .wordPiece(try readVocabText(vocabText, config: directory.appendingPathComponent("tokenizer_config.json")))
        }
        if fileManager.fileExists(atPath: directory.appendingPathComponent("merges.txt").path) {
            throw .unsupported(directory.path, "has a BPE tokenizer only as vocab.json and merges.txt; mcp-rag reads tokenizer.json (save the tokenizer with a recent transformers to write one)")
        }
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
            throw .notFound(directory.path, "the model folder does not exist; check the path or download the model first")
        }
        guard isDirectory.boolValue else {
            throw .notFound(directory.path, "is a file, not a model folder; pass the folder that holds tokenizer.json or vocab.txt")
        }
        throw .notFound(directory.path, "has neither tokenizer.json nor vocab.txt; copy the model's tokenizer files into this folder")
    }

    /// What `tokenizer_config.json` says: the tokenizer class it names, its `add_prefix_space`, and
    /// the file itself. transformers 5 builds the normaliser and pre-tokenizer of some classes
    /// itself (BERT's, RoBERTa's, XLM-RoBERTa's), from these and not from `tokenizer.json`;
    /// sentence-transformers 6 tokenises with that. Nil without the file.
    private static func declaredTokenizer(directory: URL) throws(ModelLoadError)
        -> (name: String?, addPrefixSpace: Bool?, config: JSONValue, path: String)? {
        let url = directory.appendingPathComponent("tokenizer_config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let config = try parseJSON(try readBytes(url), path: url.path)
        var addPrefixSpace: Bool?
        if let value = config["add_prefix_space"], !value.isNull {
            guard let flag = value.bool else { throw .malformed(url.path, "add_prefix_space is \(value.typeName), expected true or false") }
            addPrefixSpace = flag
        }
        return (config["tokenizer_class"]?.string, addPrefixSpace, config, url.path)
    }

    /// `config.json`'s `model_type`, which picks the tokenizer class where none is named.
    private static func modelType(directory: URL) throws(ModelLoadError) -> String? {
        let url = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try parseJSON(try readBytes(url), path: url.path)["model_type"]?.string
    }

    /// The normaliser BERT's tokenizer class builds from `tokenizer_config.json` (`config`; nil
    /// when there is none): `do_lower_case` (default true), `strip_accents` (default: as
    /// lower-casing), `tokenize_chinese_chars` (default true); text cleaning always.
    private static func bertNormalizer(config: JSONValue?, path: String) throws(ModelLoadError) -> BertNormalizerOptions {
        guard let config else { return BertNormalizerOptions(cleanText: true, handleChineseChars: true, stripAccents: nil, lowercase: true) }
        var stripAccents: Bool?
        if let strip = config["strip_accents"], !strip.isNull {
            guard let value = strip.bool else { throw .malformed(path, "strip_accents is \(strip.typeName), expected true, false or null") }
            stripAccents = value
        }
        return BertNormalizerOptions(
            cleanText: true,
            handleChineseChars: try flag(config, "tokenize_chinese_chars", default: true, path: path, field: "tokenize_chinese_chars"),
            stripAccents: stripAccents,
            lowercase: try flag(config, "do_lower_case", default: true, path: path, field: "do_lower_case"))
    }

    private static func readBytes(_ url: URL) throws(ModelLoadError) -> [UInt8] {
        do {
            return [UInt8](try Data(contentsOf: url))
        } catch {
            throw .unreadable(url.path, "cannot be read (\(error.localizedDescription)); check its permissions")
        }
    }

    private static func parseJSON(_ bytes: [UInt8], path: String) throws(ModelLoadError) -> JSONValue {
        let root: JSONValue
        do {
            root = try JSONReader.parse(bytes)
        } catch {
            throw .malformed(path, "is not valid JSON (\(error.message) at byte \(error.offset)); the file may be truncated, download it again")
        }
        guard case .object = root else {
            throw .malformed(path, "holds \(root.typeName) where a JSON object was expected")
        }
        return root
    }

    // MARK: tokenizer.json

    static func readTokenizerJSON(_ url: URL) throws(ModelLoadError) -> TokenizerSpec {
        try wordPieceSpec(try parseJSON(try readBytes(url), path: url.path), path: url.path)
    }

    /// The WordPiece tokenizer a parsed `tokenizer.json` describes; with `transformersNormalizer`
    /// (BERT's class), that normaliser and BERT's pre-tokenizer in place of the file's.
    static func wordPieceSpec(_ root: JSONValue, path: String,
                              transformersNormalizer: BertNormalizerOptions? = nil) throws(ModelLoadError) -> TokenizerSpec {
        var spec = TokenizerSpec(source: path)

        guard let model = root["model"], case .object = model else {
            throw .malformed(path, "has no \"model\" object, so it is not a Hugging Face tokenizer.json")
        }
        if let type = model["type"] {
            guard let name = type.string else { throw .malformed(path, "model.type is \(type.typeName), expected a string") }
            guard name == "WordPiece" else {
                throw .unsupported(path, "uses a \(name) model; only WordPiece (BERT), byte-level BPE (RoBERTa) and Unigram (XLM-RoBERTa) tokenizers are supported")
            }
        } else if model["merges"] != nil {
            throw .unsupported(path, "describes a BPE model (it has merges) without saying so in model.type")
        }
        guard let vocab = model["vocab"] else {
            throw .malformed(path, "has no model.vocab; a WordPiece tokenizer.json lists its vocabulary there")
        }
        guard case .object(let entries) = vocab else {
            throw .malformed(path, "model.vocab is \(vocab.typeName), expected an object mapping each token to its id")
        }
        guard !entries.isEmpty else { throw .malformed(path, "model.vocab is empty") }
        spec.arena.reserveCapacity(entries.count * 8)
        spec.tokens.reserveCapacity(entries.count)
        let idLimit = entries.count + idSlack
        for (token, value) in entries {
            guard let id = value.integer, id >= 0, id < idLimit else {
                throw .malformed(path, "model.vocab maps \"\(token)\" to \(value.typeName == "a number" ? "an id out of range" : value.typeName); ids must be integers from 0 to about the vocabulary size")
            }
            spec.appendToken(token, id: Int32(id))
        }
        spec.unknownToken = try string(model, "unk_token", default: "[UNK]", path: path, field: "model.unk_token")
        spec.continuingSubwordPrefix = try string(
            model, "continuing_subword_prefix", default: "##", path: path, field: "model.continuing_subword_prefix")
        if let value = model["max_input_chars_per_word"], !value.isNull {
            guard let limit = value.integer, limit >= 0 else {
                throw .malformed(path, "model.max_input_chars_per_word is not a non-negative integer")
            }
            spec.maxInputCharsPerWord = limit
        }

        if let transformersNormalizer {
            spec.normalizer = transformersNormalizer
        } else {
            spec.normalizer = try readNormalizer(root["normalizer"], path: path)
            try checkPreTokenizer(root["pre_tokenizer"], path: path)
        }
        spec.addedTokens = try readAddedTokens(root["added_tokens"], path: path)
        try readPostProcessor(root["post_processor"], into: &spec, path: path)
        // Only the pad token's name is taken from `padding`; its length and strategy are the caller's.
        if let name = root["padding"]?["pad_token"]?.string { spec.pad = (name, nil) }
        return spec
    }

    private static func string(_ object: JSONValue, _ key: String, default fallback: String, path: String, field: String) throws(ModelLoadError) -> String {
        guard let value = object[key], !value.isNull else { return fallback }
        guard let text = value.string else { throw .malformed(path, "\(field) is \(value.typeName), expected a string") }
        return text
    }

    private static func flag(_ object: JSONValue, _ key: String, default fallback: Bool, path: String, field: String) throws(ModelLoadError) -> Bool {
        guard let value = object[key], !value.isNull else { return fallback }
        guard let flag = value.bool else { throw .malformed(path, "\(field) is \(value.typeName), expected true or false") }
        return flag
    }

    private static func readNormalizer(_ value: JSONValue?, path: String) throws(ModelLoadError) -> BertNormalizerOptions {
        guard let value, !value.isNull else { return .preTokenizerOnly }
        let type = value["type"]?.string ?? "(no type)"
        guard type == "BertNormalizer" else {
            throw .unsupported(path, "uses a \(type) normalizer; only BertNormalizer (or none) is supported")
        }
        let lowercase = try flag(value, "lowercase", default: true, path: path, field: "normalizer.lowercase")
        var stripAccents: Bool?
        if let strip = value["strip_accents"], !strip.isNull {
            guard let flag = strip.bool else { throw .malformed(path, "normalizer.strip_accents is \(strip.typeName), expected true, false or null") }
            stripAccents = flag
        }
        return BertNormalizerOptions(
            cleanText: try flag(value, "clean_text", default: true, path: path, field: "normalizer.clean_text"),
            handleChineseChars: try flag(value, "handle_chinese_chars", default: true, path: path, field: "normalizer.handle_chinese_chars"),
            stripAccents: stripAccents,
            lowercase: lowercase)
    }

    private static func checkPreTokenizer(_ value: JSONValue?, path: String) throws(ModelLoadError) {
        guard let value, !value.isNull else {
            throw .unsupported(path, "has no pre_tokenizer; only BERT's (BertPreTokenizer) is supported")
        }
        let type = value["type"]?.string ?? "(no type)"
        guard type == "BertPreTokenizer" else {
            throw .unsupported(path, "uses a \(type) pre-tokenizer; only BertPreTokenizer is supported")
        }
    }

    static func readAddedTokens(_ value: JSONValue?, path: String) throws(ModelLoadError) -> [AddedToken] {
        guard let value, !value.isNull else { return [] }
        guard case .array(let items) = value else {
            throw .malformed(path, "added_tokens is \(value.typeName), expected an array")
        }
        var tokens: [AddedToken] = []
        for (index, item) in items.enumerated() {
            // The stated "id" is not read: Hugging Face re-derives every added token's id on load.
            guard let content = item["content"]?.string else {
                throw .malformed(path, "added_tokens[\(index)] has no string \"content\"")
            }
            if item["single_word"]?.bool == true {
                throw .unsupported(path, "added token \"\(content)\" sets single_word, which this tokenizer does not implement")
            }
            let special = item["special"]?.bool ?? false
            let normalized = try flag(item, "normalized", default: !special, path: path, field: "added_tokens[\(index)].normalized")
            tokens.append(AddedToken(content: content, normalized: normalized, lstrip: item["lstrip"]?.bool ?? false,
                                     rstrip: item["rstrip"]?.bool ?? false))
        }
        return tokens
    }

    /// Takes [CLS] and [SEP] from the post-processor, which is what Hugging Face wraps a sequence in.
    static func readPostProcessor(_ value: JSONValue?, into spec: inout TokenizerSpec, path: String) throws(ModelLoadError) {
        guard let value, !value.isNull else { return }
        let type = value["type"]?.string ?? "(no type)"
        switch type {
        case "BertProcessing", "RobertaProcessing":
            guard let cls = tokenAndID(value["cls"]), let sep = tokenAndID(value["sep"]) else {
                throw .malformed(path, "post_processor (\(type)) needs \"cls\" and \"sep\" as [token, id] pairs")
            }
            spec.cls = cls
            spec.sep = sep
        case "TemplateProcessing":
            guard case .array(let single)? = value["single"], single.count == 3,
                let first = single[0]["SpecialToken"]?["id"]?.string,
                single[1]["Sequence"]?["id"]?.string == "A",
                let last = single[2]["SpecialToken"]?["id"]?.string
            else {
                throw .unsupported(path, "post_processor's single-sequence template is not \"[CLS] $A [SEP]\"; only that shape is supported")
            }
            spec.cls = (first, templateID(value, first))
            spec.sep = (last, templateID(value, last))
        default:
            throw .unsupported(path, "uses a \(type) post-processor; only BertProcessing, RobertaProcessing and TemplateProcessing (a token, $A, a token) are supported")
        }
    }

    private static func tokenAndID(_ value: JSONValue?) -> (String, Int32?)? {
        guard case .array(let pair)? = value, pair.count == 2, let token = pair[0].string,
            let id = pair[1].integer, let id32 = Int32(exactly: id), id32 >= 0
        else { return nil }
        return (token, id32)
    }

    private static func templateID(_ processor: JSONValue, _ name: String) -> Int32? {
        guard case .array(let ids)? = processor["special_tokens"]?[name]?["ids"], ids.count == 1,
            let id = ids[0].integer, let id32 = Int32(exactly: id), id32 >= 0
        else { return nil }
        return id32
    }

    // MARK: vocab.txt

    static func readVocabText(_ url: URL, config configURL: URL) throws(ModelLoadError) -> TokenizerSpec {
        let path = url.path
        let bytes = try readBytes(url)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw .malformed(path, "is not UTF-8 text; a vocab.txt lists one token per line in UTF-8")
        }
        var spec = TokenizerSpec(source: path)
        // Line breaks as Python's universal newlines (transformers' `load_vocab`): \n, \r\n and \r.
        var lineStart = 0
        var i = 0
        var lines: [(offset: Int, length: Int, id: Int32)] = []
        lines.reserveCapacity(bytes.count / 7)
        while i < bytes.count {
            let byte = bytes[i]
            if byte == 0x0A || byte == 0x0D {
                guard lines.count < Int(Int32.max) else { break }
                lines.append((lineStart, i - lineStart, Int32(lines.count)))
                i += (byte == 0x0D && i + 1 < bytes.count && bytes[i + 1] == 0x0A) ? 2 : 1
                lineStart = i
            } else {
                i += 1
            }
        }
        if lineStart < bytes.count { lines.append((lineStart, bytes.count - lineStart, Int32(lines.count))) }
        guard !lines.isEmpty else { throw .malformed(path, "is empty; a vocab.txt lists one token per line") }
        spec.arena = bytes
        spec.tokens = lines

        var names = ["unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"]
        var extra: [String] = []
        var declared: [AddedToken] = []
        var config: JSONValue?
        if FileManager.default.fileExists(atPath: configURL.path) {
            let configPath = configURL.path
            let parsed = try parseJSON(try readBytes(configURL), path: configPath)
            config = parsed
            for key in Array(names.keys) {
                if let value = parsed[key], let name = value.string ?? value["content"]?.string { names[key] = name }
            }
            if case .array(let items)? = parsed["additional_special_tokens"] {
                extra = items.compactMap { $0.string ?? $0["content"]?.string }
            }
            if case .object(let entries)? = parsed["added_tokens_decoder"] {
                for (key, item) in entries.sorted(by: { (Int($0.key) ?? 0) < (Int($1.key) ?? 0) }) {
                    guard let content = item["content"]?.string else {
                        throw .malformed(configPath, "added_tokens_decoder entry \"\(key)\" has no string \"content\"")
                    }
                    if item["single_word"]?.bool == true {
                        throw .unsupported(configPath, "added token \"\(content)\" sets single_word, which this tokenizer does not implement")
                    }
                    let special = item["special"]?.bool ?? false
                    declared.append(AddedToken(content: content, normalized: item["normalized"]?.bool ?? !special,
                                               lstrip: item["lstrip"]?.bool ?? false, rstrip: item["rstrip"]?.bool ?? false))
                }
            }
        }
        spec.normalizer = try bertNormalizer(config: config, path: configURL.path)
        spec.unknownToken = names["unk_token"] ?? "[UNK]"
        spec.cls = (names["cls_token"] ?? "[CLS]", nil)
        spec.sep = (names["sep_token"] ?? "[SEP]", nil)
        spec.pad = (names["pad_token"] ?? "[PAD]", nil)

        spec.vocabularySpecialTokens = ["pad_token", "unk_token", "cls_token", "sep_token", "mask_token"].compactMap { names[$0] } + extra
        spec.addedTokens = declared
        return spec
    }
}
