import Foundation

/// What a sentence-transformers folder says around its transformer: which modules run, how token
/// vectors are pooled, whether the result is normalised, how long an input may be, whether input is
/// lower-cased, and the prompts put before queries and passages. Read from `modules.json`, the
/// pooling module's `config.json`, `sentence_bert_config.json`, `tokenizer_config.json` and
/// `config_sentence_transformers.json`, in both the form the Hub's models carry (module types under
/// `sentence_transformers.models`, `pooling_mode_*_token(s)` flags) and the one sentence-transformers 6
/// writes (`sentence_transformers.base.modules…`, `"pooling_mode": "cls"`).
///
/// A folder mcp-rag could only run approximately (a `Dense` module, pooling modes concatenated) is
/// refused with the module or setting at fault.
struct SentenceTransformerSettings: Equatable {
    var pooling: PoolingMode = .mean
    var normalize = true
    /// sentence-transformers' `max_seq_length`, when the folder gives one.
    var maxSequenceLength: Int?
    /// `do_lower_case`: the text is lower-cased before the tokenizer sees it.
    var lowercasesInput = false
    var prompts = EmbeddingPrompts()

    /// The modules mcp-rag runs, by the last part of their type name.
    private static let knownModules: Set<String> = ["Transformer", "Pooling", "Normalize"]

    init() {}

    /// The settings files of the folder, by path inside it, the pooling module's where
    /// `modules.json` puts it: what besides the transformer's own files decides the vectors.
    static func files(in directory: URL) -> [String] {
        let modules = try? ModelFiles.readJSONArray(directory.appendingPathComponent("modules.json").path)
        return ["modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
                poolingFolder(modules) + "/config.json"]
    }

    /// Where the pooling module keeps its settings: the folder `modules.json` gives it, else
    /// `1_Pooling`.
    private static func poolingFolder(_ modules: [[String: Any]]?) -> String {
        let pooling = modules?.first { ($0["type"] as? String)?.split(separator: ".").last == "Pooling" }
        return (pooling?["path"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "1_Pooling"
    }

    init(directory: URL) throws {
        let modulesPath = directory.appendingPathComponent("modules.json").path
        let modules = try ModelFiles.readJSONArray(modulesPath)
        if let modules {
            let names = try modules.map { module -> String in
                guard let type = module["type"] as? String else {
                    throw ModelLoadError.malformed(modulesPath, "a module without a 'type'")
                }
                let name = String(type.split(separator: ".").last ?? "")
                // A module of another package (remote code, as jina-embeddings-v3's `custom_st.Transformer`)
                // may share a name with sentence-transformers' own and compute something else.
                guard type.hasPrefix("sentence_transformers.") else {
                    throw ModelLoadError.unsupported(
                        modulesPath, "the module '\(type)' is not one of sentence-transformers' own (it needs the model's "
                            + "own code), and mcp-rag would not compute this model's vectors exactly")
                }
                guard Self.knownModules.contains(name) else {
                    throw ModelLoadError.unsupported(
                        modulesPath, "the module '\(type)' is not supported: mcp-rag runs Transformer, Pooling and Normalize "
                            + "modules only, and would not compute this model's vectors exactly")
                }
                return name
            }
            guard names.first == "Transformer", names.filter({ $0 == "Transformer" }).count == 1,
                  names.filter({ $0 == "Pooling" }).count <= 1, names.filter({ $0 == "Normalize" }).count <= 1,
                  names.firstIndex(of: "Normalize").map({ $0 == names.count - 1 }) ?? true
            else {
                throw ModelLoadError.unsupported(
                    modulesPath, "modules \(names) are not a Transformer followed by Pooling and perhaps Normalize")
            }
            // Older sentence-transformers saved the transformer in a folder of its own (`0_Transformer`);
            // mcp-rag reads it from the model folder itself, so such a layout would fail later, and less clearly.
            if let path = modules.first?["path"] as? String, !path.isEmpty {
                throw ModelLoadError.unsupported(
                    modulesPath, "the Transformer module is in the folder '\(path)': mcp-rag reads the transformer's config, "
                        + "weights and tokenizer from the model folder itself, as sentence-transformers 2 and later save them")
            }
            normalize = names.contains("Normalize")
            if !names.contains("Pooling") {
                throw ModelLoadError.unsupported(modulesPath, "no Pooling module: the model gives token vectors, not sentence vectors")
            }
        }
        // Without modules.json (a plain transformers folder) sentence-transformers runs the transformer
        // and mean pooling, nothing more: no Normalize.
        if modules == nil { normalize = false }

        let poolingPath = directory.appendingPathComponent(Self.poolingFolder(modules)).appendingPathComponent("config.json").path
        if let pooling = try ModelFiles.readJSONObject(poolingPath, required: false) {
            self.pooling = try Self.poolingMode(pooling, path: poolingPath)
            prompts.includedInPooling = (pooling["include_prompt"] as? Bool) ?? true
        }

        let sbertPath = directory.appendingPathComponent("sentence_bert_config.json").path
        let sbert = try ModelFiles.readJSONObject(sbertPath, required: false)
        if let length = sbert?["max_seq_length"], !(length is NSNull) {
            guard let length = length as? Int else { throw ModelLoadError.malformed(sbertPath, "max_seq_length is not an integer") }
            maxSequenceLength = length
        } else {
            // What sentence-transformers 6 falls back to: the tokenizer's limit. Hugging Face writes a
            // huge number there for "none", which the position table then caps.
            let tokenizerConfig = try ModelFiles.readJSONObject(
                directory.appendingPathComponent("tokenizer_config.json").path, required: false)
            if let limit = tokenizerConfig?["model_max_length"] as? Int, limit > 0 { maxSequenceLength = limit }
        }
        lowercasesInput = (sbert?["do_lower_case"] as? Bool) ?? false

        let stPath = directory.appendingPathComponent("config_sentence_transformers.json").path
        if let st = try ModelFiles.readJSONObject(stPath, required: false) {
            prompts = try EmbeddingPrompts(config: st, path: stPath, includedInPooling: prompts.includedInPooling)
        }
    }

    /// The one pooling mode `config` names, in either form.
    private static func poolingMode(_ config: [String: Any], path: String) throws -> PoolingMode {
        var names: [String]
        switch config["pooling_mode"] {
        case let name as String:
            names = [name]
        case let list as [String]:
            names = list
        case nil:
            // The older form: one flag per mode, in sentence-transformers' order of concatenation.
            let flags: [(String, String)] = [
                ("pooling_mode_cls_token", "cls"), ("pooling_mode_max_tokens", "max"), ("pooling_mode_mean_tokens", "mean"),
                ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
                ("pooling_mode_weightedmean_tokens", "weightedmean"), ("pooling_mode_lasttoken", "lasttoken"),
            ]
            names = flags.filter { (config[$0.0] as? Bool) == true }.map(\.1)
            // No flag set: sentence-transformers pools by mean.
            if names.isEmpty { names = ["mean"] }
        default:
            throw ModelLoadError.malformed(path, "pooling_mode is neither a name nor a list of names")
        }
        guard names.count == 1 else {
            throw ModelLoadError.unsupported(
                path, "pooling modes \(names) concatenated into one vector are not supported; only one mode at a time is")
        }
        guard let mode = PoolingMode(rawValue: names[0]) else {
            throw ModelLoadError.unsupported(
                path, "pooling mode '\(names[0])' is not one sentence-transformers defines (cls, max, mean, "
                    + "mean_sqrt_len_tokens, weightedmean, lasttoken)")
        }
        return mode
    }
}

/// The text put before every query and every passage, as the model's authors set it in
/// `config_sentence_transformers.json` (e5: "query: " and "passage: "; bge: an instruction before
/// queries only).
///
/// Which prompt: for queries the one named `query`; for passages the first of `document`, `passage`
/// and `corpus` that is not empty (sentence-transformers 6 writes `"document": ""` beside an older
/// `passage`, which its own `encode_document` then uses, dropping e5's "passage: "); where none is
/// set, the default prompt (`default_prompt_name`), as `encode` applies it.
public struct EmbeddingPrompts: Sendable, Equatable {
    public var query = ""
    public var passage = ""
    /// Whether the prompt's tokens count in the pooling (the pooling module's `include_prompt`).
    public var includedInPooling = true
    /// Where the prompt is excluded: how many tokens it takes at the start of a sequence (`[CLS]`
    /// and its word pieces), for queries and passages; measured with the tokenizer (`measure`).
    private var queryTokens = 0
    private var passageTokens = 0

    public init(query: String = "", passage: String = "", includedInPooling: Bool = true) {
        self.query = query
        self.passage = passage
        self.includedInPooling = includedInPooling
    }

    init(config: [String: Any], path: String, includedInPooling: Bool) throws {
        let prompts: [String: String]
        switch config["prompts"] {
        case nil, is NSNull:
            prompts = [:]
        case let dictionary as [String: Any]:
            prompts = try dictionary.mapValues { value in
                if value is NSNull { return "" }
                guard let text = value as? String else { throw ModelLoadError.malformed(path, "a prompt that is not a string") }
                return text
            }
        default:
            throw ModelLoadError.malformed(path, "prompts is not an object of names and texts")
        }
        var fallback = ""
        if let name = config["default_prompt_name"] as? String {
            guard let text = prompts[name] else {
                throw ModelLoadError.malformed(path, "default_prompt_name '\(name)' names no prompt in prompts")
            }
            fallback = text
        }
        let named = { (name: String) in prompts[name].flatMap { $0.isEmpty ? nil : $0 } }
        query = named("query") ?? fallback
        passage = named("document") ?? named("passage") ?? named("corpus") ?? fallback
        self.includedInPooling = includedInPooling
    }

    /// The prompt for `work`.
    public func prompt(for work: EmbeddingWork) -> String {
        work == .queries ? query : passage
    }

    /// Tokens at the start of `work`'s sequences that the pooling skips: none unless the pooling
    /// excludes the prompt.
    public func tokensExcludedFromPooling(for work: EmbeddingWork) -> Int {
        includedInPooling ? 0 : (work == .queries ? queryTokens : passageTokens)
    }

    /// Measures the prompts with `tokenize` (a prompt's ids, `[CLS]` … `[SEP]`), as
    /// sentence-transformers does: the prompt's ids less the trailing `[SEP]`.
    mutating func measure(with tokenize: (String) -> [Int32]) {
        queryTokens = query.isEmpty ? 0 : tokenize(query).count - 1
        passageTokens = passage.isEmpty ? 0 : tokenize(passage).count - 1
    }
}
