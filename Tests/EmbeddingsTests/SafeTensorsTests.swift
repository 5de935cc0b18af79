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

    @Test("an explicit folder that is wrong is reported, not skipped")
    func explicitMissing() throws {
        let root = try TemporaryFolder()
        try makeModel(in: root.url.appendingPathComponent("data/models/all-MiniLM-L6-v2"))
        let environment = ["MCP_RAG_DATA_DIR": root.path("data"), "MCP_RAG_MODEL_DIR": root.path("typo")]
        let error = #expect(throws: ModelLoadError.self) { try ModelLocator(environment: environment).locate() }
        #expect(error?.problem.contains("MCP_RAG_MODEL_DIR") == true)
    }
}
