import Embeddings
import Foundation
import Testing

/// Every way a model folder can be broken gives a ModelLoadError naming the file and the problem.
@Suite("Broken model folders")
struct BadModelTests {
    private func loadError(_ folder: TemporaryFolder) throws -> ModelLoadError {
        do {
            _ = try SentenceEmbedder(directory: folder.url)
        } catch let error as ModelLoadError {
            return error
        }
        Issue.record("the broken model loaded without an error")
        throw CancellationError()
    }

    @Test("a truncated model.safetensors")
    func truncatedWeights() throws {
        let source = try realModelDirectory()
        let folder = try TemporaryFolder()
        try folder.copyModel(from: source, excluding: ["model.safetensors"])
        let full = try Data(contentsOf: source.appendingPathComponent("model.safetensors"), options: .alwaysMapped)
        try folder.write("model.safetensors", full.prefix(full.count / 2))
        let error = try loadError(folder)
        #expect(error.path.hasSuffix("model.safetensors"))
        #expect(error.problem.contains("truncated"))
    }

    @Test("a safetensors file cut inside its header")
    func truncatedHeader() throws {
        let source = try realModelDirectory()
        let folder = try TemporaryFolder()
        try folder.copyModel(from: source, excluding: ["model.safetensors"])
        let full = try Data(contentsOf: source.appendingPathComponent("model.safetensors"), options: .alwaysMapped)
        try folder.write("model.safetensors", full.prefix(100))
        let error = try loadError(folder)
        #expect(error.path.hasSuffix("model.safetensors"))
        #expect(error.problem.contains("truncated"))
    }

    @Test("weights whose shapes disagree with config.json")
    func wrongShapes() throws {
        let source = try realModelDirectory()
        let folder = try TemporaryFolder()
        try folder.copyModel(from: source, excluding: ["config.json"])
        var config = try String(contentsOf: source.appendingPathComponent("config.json"), encoding: .utf8)
        config = config.replacingOccurrences(of: "\"intermediate_size\": 1536", with: "\"intermediate_size\": 1024")
        try folder.write("config.json", config)
        let error = try loadError(folder)
        #expect(error.path.hasSuffix("model.safetensors"))
        #expect(error.problem.contains("intermediate.dense.weight"))
        #expect(error.problem.contains("[1536, 384]"))
    }

    @Test("a missing tensor")
    func missingTensor() throws {
        let source = try realModelDirectory()
        let folder = try TemporaryFolder()
        try folder.copyModel(from: source, excluding: ["config.json"])
        var config = try String(contentsOf: source.appendingPathComponent("config.json"), encoding: .utf8)
        config = config.replacingOccurrences(of: "\"num_hidden_layers\": 6", with: "\"num_hidden_layers\": 7")
        try folder.write("config.json", config)
        let error = try loadError(folder)
        #expect(error.path.hasSuffix("model.safetensors"))
        #expect(error.problem.contains("encoder.layer.6"))
        #expect(error.problem.contains("missing"))
    }

    @Test("no vocabulary (neither tokenizer.json nor vocab.txt)")
    func missingVocabulary() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["tokenizer.json", "vocab.txt"])
        let error = try loadError(folder)
        #expect(error.isNotFound)
        #expect(error.path.contains(folder.url.lastPathComponent))
    }

    @Test("a RoBERTa config whose padding id leaves no position rows, or overflows")
    func robertaPaddingOutOfRange() throws {
        for padding in ["600", "9223372036854775807"] {
            let folder = try TemporaryFolder()
            try folder.copyModel(from: try realModelDirectory(), excluding: ["config.json"])
            try folder.write("config.json", """
                {"model_type": "roberta", "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
                 "intermediate_size": 1536, "vocab_size": 30522, "max_position_embeddings": 512, "pad_token_id": \(padding)}
                """)
            let error = try loadError(folder)
            #expect(error.path.hasSuffix("config.json"))
            #expect(error.problem.contains("pad_token_id"), "\(error)")
        }
    }

    @Test("a config for another architecture")
    func nonBertConfig() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["config.json"])
        try folder.write("config.json", #"{"model_type": "gpt2", "n_embd": 768}"#)
        let error = try loadError(folder)
        #expect(error.path.hasSuffix("config.json"))
        #expect(error.problem.contains("gpt2"))
        #expect(error.problem.contains("'bert', 'roberta' and 'xlm-roberta'"))
    }

    @Test("config.json that is not JSON")
    func configNotJSON() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["config.json"])
        try folder.write("config.json", "hidden_size = 384")
        let error = try loadError(folder)
        #expect(error.path.hasSuffix("config.json"))
        #expect(error.problem.contains("JSON"))
    }

    @Test("no config.json at all")
    func missingConfig() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["config.json"])
        let error = try loadError(folder)
        #expect(error.isNotFound)
        #expect(error.path.hasSuffix("config.json"))
    }

    @Test("pooling modes concatenated into one vector")
    func concatenatedPooling() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["1_Pooling"])
        try folder.write("1_Pooling/config.json", #"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}"#)
        let error = try loadError(folder)
        #expect(error.path.hasSuffix("1_Pooling/config.json"))
        #expect(error.problem.contains("concatenated"))
    }

    @Test("a pooling mode sentence-transformers does not define")
    func unknownPooling() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["1_Pooling"])
        try folder.write("1_Pooling/config.json", #"{"pooling_mode": "median"}"#)
        let error = try loadError(folder)
        #expect(error.problem.contains("median"))
    }

    @Test("a module mcp-rag does not run (Dense) is refused, not skipped")
    func unsupportedModule() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["modules.json"])
        try folder.write("modules.json", """
            [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
             {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
             {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]
            """)
        let error = try loadError(folder)
        #expect(error.path.hasSuffix("modules.json"))
        #expect(error.problem.contains("sentence_transformers.models.Dense"))
    }

    @Test("a module of the model's own code, named like sentence-transformers' own, is refused")
    func moduleOfRemoteCode() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["modules.json"])
        try folder.write("modules.json", """
            [{"idx": 0, "name": "0", "path": "", "type": "custom_st.Transformer"},
             {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
            """)
        let error = try loadError(folder)
        #expect(error.path.hasSuffix("modules.json") && error.problem.contains("'custom_st.Transformer'"), "\(error)")
    }

    @Test("a transformer kept in a folder of its own (older sentence-transformers) is refused with the reason")
    func transformerInASubfolder() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["modules.json"])
        try folder.write("modules.json", """
            [{"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
             {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
            """)
        let error = try loadError(folder)
        #expect(error.path.hasSuffix("modules.json") && error.problem.contains("'0_Transformer'"), "\(error)")
    }

    @Test("the pooling settings are read from the folder modules.json names")
    func poolingFolderFromModules() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["modules.json", "1_Pooling"])
        try folder.write("modules.json", """
            [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
             {"idx": 1, "name": "1", "path": "pool", "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"}]
            """)
        try folder.write("pool/config.json", #"{"embedding_dimension": 384, "pooling_mode": "cls"}"#)
        let configuration = try ModelConfiguration(directory: folder.url)
        #expect(configuration.pooling == .cls)
        #expect(!configuration.normalize)
    }

    @Test("max_seq_length beyond the position table is capped at it, as sentence-transformers does")
    func sequenceCapped() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["sentence_bert_config.json"])
        try folder.write("sentence_bert_config.json", #"{"max_seq_length": 4096}"#)
        #expect(try ModelConfiguration(directory: folder.url).maxSequenceLength == 512)
    }

    @Test("without max_seq_length, the tokenizer's model_max_length")
    func sequenceFromTokenizer() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["sentence_bert_config.json", "tokenizer_config.json"])
        try folder.write("tokenizer_config.json", #"{"model_max_length": 128, "do_lower_case": true}"#)
        #expect(try ModelConfiguration(directory: folder.url).maxSequenceLength == 128)
    }

    @Test("a max_seq_length with no room for [CLS] and [SEP]")
    func sequenceTooShort() throws {
        let folder = try TemporaryFolder()
        try folder.copyModel(from: try realModelDirectory(), excluding: ["sentence_bert_config.json"])
        try folder.write("sentence_bert_config.json", #"{"max_seq_length": 1}"#)
        let error = try loadError(folder)
        #expect(error.path.hasSuffix("sentence_bert_config.json"))
        #expect(error.problem.contains("max_seq_length 1"))
    }
}

@Suite("Half-precision weights")
struct HalfPrecisionWeightTests {
    /// Re-encodes the real weights as F16 or BF16 and checks they load (upcast) and still embed
    /// close to the fp32 model.
    @Test("F16 and BF16 safetensors load and embed close to fp32", arguments: ["F16", "BF16"])
    func halfPrecision(dtype: String) throws {
        let source = try realModelDirectory()
        let original = try SafeTensorsFile(path: source.appendingPathComponent("model.safetensors").path)
        var tensors: [(name: String, dtype: String, shape: [Int], bytes: Data)] = []
        for (name, info) in original.tensors.sorted(by: { $0.key < $1.key }) where info.dtype == "F32" {
            let values = try original.floats(name, shape: info.shape).toArray()
            tensors.append((name, dtype, info.shape, tensorBytes(values, dtype: dtype)))
        }
        let folder = try TemporaryFolder()
        try folder.copyModel(from: source, excluding: ["model.safetensors"])
        try folder.write("model.safetensors", safetensorsData(tensors))

        let reduced = try SentenceEmbedder(directory: folder.url)
        let full = try SentenceEmbedder(directory: source)
        let texts = ["The quick brown fox jumps over the lazy dog.", "How do I configure Redis?"]
        for (a, b) in zip(try reduced.embedBlocking(texts), try full.embedBlocking(texts)) {
            // The weights lost precision, so the vectors move a little, but not far.
            #expect(cosine(a, b) > 0.999)
            #expect(a != b)
        }
    }
}
