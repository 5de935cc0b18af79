import Embeddings
import Foundation
import Testing

@Suite("safetensors reader")
struct SafeTensorsTests {
    @Test("reads F32, F16 and BF16 tensors as floats")
    func dtypes() throws {
        let values: [Float] = [0, 1, -2.5, 0.15625, 65504, -0.0009765625]
        let folder = try TemporaryFolder()
        try folder.write("t.safetensors", safetensorsData([
            ("a", "F32", [2, 3], tensorBytes(values, dtype: "F32")),
            ("b", "F16", [6], tensorBytes(values, dtype: "F16")),
            ("c", "BF16", [3, 2], tensorBytes([1, -2, 0.5, 3, 256, -0.25], dtype: "BF16")),
        ]))
        let file = try SafeTensorsFile(path: folder.path("t.safetensors"))
        #expect((try file.floats("a", shape: [2, 3]).toArray()) == values)
        // Every value above is exactly representable in F16.
        #expect((try file.floats("b", shape: [6]).toArray()) == values)
        #expect((try file.floats("c", shape: [3, 2]).toArray()) == [1, -2, 0.5, 3, 256, -0.25])
    }

    @Test("a shape other than the expected one is an error naming the tensor")
    func wrongShape() throws {
        let folder = try TemporaryFolder()
        try folder.write("t.safetensors", safetensorsData([("a", "F32", [4], tensorBytes([1, 2, 3, 4], dtype: "F32"))]))
        let file = try SafeTensorsFile(path: folder.path("t.safetensors"))
        #expect(throws: ModelLoadError.self) { try file.floats("a", shape: [2, 2]) }
        #expect(throws: ModelLoadError.self) { try file.floats("missing", shape: [4]) }
    }

    @Test("offsets past the end of the file are refused when the file is opened")
    func offsetsPastEnd() throws {
        let folder = try TemporaryFolder()
        var data = safetensorsData([("a", "F32", [4], tensorBytes([1, 2, 3, 4], dtype: "F32"))])
        data.removeLast(4)
        try folder.write("t.safetensors", data)
        let error = #expect(throws: ModelLoadError.self) { try SafeTensorsFile(path: folder.path("t.safetensors")) }
        #expect(error?.problem.contains("truncated") == true)
    }

    @Test("a byte count that disagrees with the shape is refused")
    func sizeMismatch() throws {
        let folder = try TemporaryFolder()
        try folder.write("t.safetensors", safetensorsData([("a", "F32", [5], tensorBytes([1, 2, 3, 4], dtype: "F32"))]))
        #expect(throws: ModelLoadError.self) { try SafeTensorsFile(path: folder.path("t.safetensors")) }
    }

    @Test("garbage, empty and missing files are errors, not crashes")
    func garbage() throws {
        let folder = try TemporaryFolder()
        try folder.write("empty.safetensors", Data())
        try folder.write("text.safetensors", "this is not a safetensors file at all, just some text")
        var notJSON = Data()
        withUnsafeBytes(of: UInt64(4).littleEndian) { notJSON.append(contentsOf: $0) }
        notJSON.append(contentsOf: Array("{{{{".utf8))
        try folder.write("notjson.safetensors", notJSON)
        for name in ["empty.safetensors", "text.safetensors", "notjson.safetensors", "absent.safetensors"] {
            let error = #expect(throws: ModelLoadError.self) { try SafeTensorsFile(path: folder.path(name)) }
            #expect(error?.path == folder.path(name))
        }
    }
}

@Suite("Finding the model folder")
struct ModelLocatorTests {
    private func makeModel(in folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: folder.appendingPathComponent("config.json"))
    }

    @Test("--model-dir wins over MCP_RAG_MODEL_DIR, which wins over the data folder and the HF cache")
    func order() throws {
        let root = try TemporaryFolder()
        let flag = root.url.appendingPathComponent("flag")
        let env = root.url.appendingPathComponent("env")
        let data = root.url.appendingPathComponent("data")
        let hfHome = root.url.appendingPathComponent("hf")
        let snapshot = hfHome.appendingPathComponent("hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/abc")
        for folder in [flag, env, data.appendingPathComponent("models/all-MiniLM-L6-v2"), snapshot] {
            try makeModel(in: folder)
        }
        var environment = ["MCP_RAG_MODEL_DIR": env.path, "HF_HOME": hfHome.path, "MCP_RAG_DATA_DIR": data.path,
                           "HOME": root.path("home")]
        #expect(try ModelLocator(explicitDirectory: flag.path, environment: environment).locate().path == flag.path)
        #expect(try ModelLocator(environment: environment).locate().path == env.path)
        environment["MCP_RAG_MODEL_DIR"] = nil
        #expect(try ModelLocator(environment: environment).locate().path
            == data.appendingPathComponent("models/all-MiniLM-L6-v2").path)
        try FileManager.default.removeItem(at: data)
        #expect(try ModelLocator(environment: environment).locate().path == snapshot.path)
    }

    @Test("a data folder set elsewhere still finds the model installed in the default data folder")
    func defaultDataFolderFallback() throws {
        let root = try TemporaryFolder()
        let installed = root.url.appendingPathComponent("xdg/mcp-rag/models/all-MiniLM-L6-v2")
        try makeModel(in: installed)
        let environment = ["HOME": root.path("home"), "XDG_DATA_HOME": root.path("xdg"),
                           "MCP_RAG_DATA_DIR": root.path("elsewhere")]
        #expect(try ModelLocator(environment: environment).locate().path == installed.path)
        // The same with the folder given as --data-dir (the locator is handed the folder).
        #expect(try ModelLocator(environment: environment, dataDirectory: root.url.appendingPathComponent("flag"))
            .locate().path == installed.path)
        // Without XDG_DATA_HOME the default folder is under HOME.
        let underHome = root.url.appendingPathComponent("home/.local/share/mcp-rag/models/all-MiniLM-L6-v2")
        try makeModel(in: underHome)
        #expect(try ModelLocator(environment: ["HOME": root.path("home"), "MCP_RAG_DATA_DIR": root.path("elsewhere")])
            .locate().path == underHome.path)
        // The data folder's own model still comes first.
        let own = root.url.appendingPathComponent("elsewhere/models/all-MiniLM-L6-v2")
        try makeModel(in: own)
        #expect(try ModelLocator(environment: environment).locate().path == own.path)
    }

    @Test("nothing found: the error lists every folder searched and the fetch command")
    func notFound() throws {
        let root = try TemporaryFolder()
        let environment = ["HOME": root.url.path, "MCP_RAG_DATA_DIR": root.path("data")]
        let error = #expect(throws: ModelLoadError.self) { try ModelLocator(environment: environment).locate() }
        let problem = error?.problem ?? ""
        #expect(problem.contains(root.path("data/models/all-MiniLM-L6-v2")))
        #expect(problem.contains(root.path(".local/share/mcp-rag/models/all-MiniLM-L6-v2")))
        #expect(problem.contains(".cache/huggingface/hub"))
        #expect(problem.contains("tools/fetch-model"))
    }

    @Test("MCP_RAG_MODEL: the Hugging Face cache's snapshot that refs/main names, before the data folder's MiniLM")
    func repositoryFromTheCache() throws {
        let root = try TemporaryFolder()
        let repository = root.url.appendingPathComponent("hf/hub/models--BAAI--bge-small-en-v1.5")
        let main = repository.appendingPathComponent("snapshots/1111")
        let newer = repository.appendingPathComponent("snapshots/2222")
        for folder in [main, newer, root.url.appendingPathComponent("data/models/all-MiniLM-L6-v2")] {
            try makeModel(in: folder)
        }
        try FileManager.default.createDirectory(at: repository.appendingPathComponent("refs"), withIntermediateDirectories: true)
        try Data("1111\n".utf8).write(to: repository.appendingPathComponent("refs/main"))
        let environment = ["MCP_RAG_MODEL": "BAAI/bge-small-en-v1.5", "HF_HOME": root.path("hf"),
                           "MCP_RAG_DATA_DIR": root.path("data"), "HOME": root.path("home")]
        #expect(try ModelLocator(environment: environment).locate().path == main.path)
        // Without refs/main, the newest snapshot.
        try FileManager.default.removeItem(at: repository.appendingPathComponent("refs/main"))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: main.path)
        #expect(try ModelLocator(environment: environment).locate().path == newer.path)
        // MCP_RAG_MODEL_DIR still wins.
        var withFolder = environment
        withFolder["MCP_RAG_MODEL_DIR"] = main.path
        #expect(try ModelLocator(environment: withFolder).locate().path == main.path)
    }

    @Test("MCP_RAG_MODEL: a name that is not owner/name, or could leave the cache, is refused")
    func repositoryNames() throws {
        for bad in ["../etc", "a/b/c", "plain", "a/..", "./x", "owner/na--me", "owner/ná", "/abs"] {
            #expect(!ModelLocator.isRepositoryName(bad), "\(bad)")
            let error = #expect(throws: ModelLoadError.self) {
                try ModelLocator(environment: ["MCP_RAG_MODEL": bad, "HOME": "/nonexistent"]).locate()
            }
            #expect(error?.problem.contains("owner/name") == true, "\(bad)")
        }
        for good in ["BAAI/bge-small-en-v1.5", "intfloat/e5-small-v2", "sentence-transformers/all-MiniLM-L6-v2"] {
            #expect(ModelLocator.isRepositoryName(good), "\(good)")
        }
    }

    @Test("MCP_RAG_MODEL naming a model not downloaded: the error says where it looked and how to get it")
    func repositoryMissing() throws {
        let root = try TemporaryFolder()
        let environment = ["MCP_RAG_MODEL": "intfloat/e5-small-v2", "HF_HOME": root.path("hf"), "HOME": root.path("home"),
                           "MCP_RAG_DATA_DIR": root.path("data")]
        let error = #expect(throws: ModelLoadError.self) { try ModelLocator(environment: environment).locate() }
        #expect(error?.problem.contains("intfloat/e5-small-v2") == true)
        #expect(error?.problem.contains(root.path("hf/hub")) == true)
        #expect(error?.problem.contains("hf download intfloat/e5-small-v2") == true)
    }

    @Test("the models on the machine: data folder and cache, each checked, the serving one marked")
    func installedModels() throws {
        let root = try TemporaryFolder()
        let real = try realModelDirectory()
        let data = root.url.appendingPathComponent("data/models/all-MiniLM-L6-v2")
        let cached = root.url.appendingPathComponent("hf/hub/models--acme--dense-model/snapshots/abc")
        var copies: [TemporaryFolder] = []
        for (folder, dense) in [(data, false), (cached, true)] {
            // Each model in a folder of its own, linked where the layout puts it.
            let copy = try TemporaryFolder()
            copies.append(copy)
            try FileManager.default.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(at: folder, withDestinationURL: copy.url)
            try copy.copyModel(from: real, excluding: dense ? ["modules.json"] : [])
            if dense {
                try copy.write("modules.json", """
                    [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                     {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                     {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]
                    """)
            }
        }
        let environment = ["HF_HOME": root.path("hf"), "MCP_RAG_DATA_DIR": root.path("data"), "HOME": root.path("home")]
        let models = try ModelLocator(environment: environment).installedModels()
        #expect(models.map(\.name) == ["all-MiniLM-L6-v2", "acme/dense-model"])
        #expect(models[0].serves && models[0].problem == nil && models[0].dimension == 384 && models[0].pooling == "mean")
        #expect(!models[1].serves && models[1].problem?.contains("Dense") == true)
        #expect(models[1].source == "Hugging Face cache")
        withExtendedLifetime(copies) {}
    }

    @Test("a model is named by its repository in the Hugging Face cache, else by its folder")
    func modelNames() throws {
        let root = try TemporaryFolder()
        let snapshot = root.url.appendingPathComponent("hub/models--acme--mini-model/snapshots/abc")
        try FileManager.default.createDirectory(at: snapshot.deletingLastPathComponent(), withIntermediateDirectories: true)
        let real = try realModelDirectory()
        try FileManager.default.createSymbolicLink(at: snapshot, withDestinationURL: real)
        #expect(try SentenceEmbedder(directory: snapshot, threads: 1).name == "acme/mini-model")
        #expect(try SentenceEmbedder(directory: real, threads: 1).name == real.lastPathComponent)
    }

    @Test("the Hugging Face cache is where huggingface_hub would look: HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, ~/.cache")
    func hubCacheLocation() throws {
        func hub(_ environment: [String: String]) throws -> String {
            try ModelLocator(environment: environment.merging(["HOME": "/home/u", "MCP_RAG_DATA_DIR": "/data"]) { $1 })
                .hubDirectory.path
        }
        #expect(try hub([:]) == "/home/u/.cache/huggingface/hub")
        #expect(try hub(["XDG_CACHE_HOME": "/xdg"]) == "/xdg/huggingface/hub")
        #expect(try hub(["XDG_CACHE_HOME": "/xdg", "HF_HOME": "/hf"]) == "/hf/hub")
        #expect(try hub(["HF_HOME": "/hf", "HUGGINGFACE_HUB_CACHE": "/old"]) == "/old")
        #expect(try hub(["HF_HOME": "/hf", "HUGGINGFACE_HUB_CACHE": "/old", "HF_HUB_CACHE": "/new"]) == "/new")
        #expect(try hub(["HF_HOME": "", "HF_HUB_CACHE": ""]) == "/home/u/.cache/huggingface/hub", "empty is unset")
        #expect(try ModelLocator(environment: ["HOME": "/home/u", "MCP_RAG_DATA_DIR": "/data", "HF_HUB_CACHE": "/new"])
            .huggingFaceHome.path == "/home/u/.cache/huggingface", "the token stays in Hugging Face's own folder")
    }

    @Test("an explicit folder that is wrong is reported, not skipped")
    func explicitMissing() throws {
        let root = try TemporaryFolder()
        try makeModel(in: root.url.appendingPathComponent("data/models/all-MiniLM-L6-v2"))
        let environment = ["MCP_RAG_DATA_DIR": root.path("data"), "MCP_RAG_MODEL_DIR": root.path("typo")]
        let error = #expect(throws: ModelLoadError.self) { try ModelLocator(environment: environment).locate() }
        #expect(error?.problem.contains("MCP_RAG_MODEL_DIR") == true)
    }
}
