import Foundation
import Testing

/// Look-alike GPU libraries built from FakeLibraries/fake_gpu.c into a scratch folder, for the
/// probe to find through `LibrarySearch` (as MCP_RAG_GPU_LIBRARY_PATH would point it there).
public struct FakeLibraries: Sendable {
    public let folder: URL

    public init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-rag-fake-gpu-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    public func remove() { try? FileManager.default.removeItem(at: folder) }

    /// Compiles the fake source with `defines` into `folder/name`.
    public func build(_ name: String, _ defines: String...) throws {
        try build(name, defines)
    }

    /// The same with the defines as an array. A library is never unloaded once opened, so build
    /// each variant into a folder of its own rather than over a file already loaded.
    public func build(_ name: String, _ defines: [String]) throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("FakeLibraries/fake_gpu.c")
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compiler.arguments = ["cc", "-shared", "-fPIC", "-O0", "-o", folder.appendingPathComponent(name).path, source.path]
            + defines.map { "-D\($0)" }
        let errors = Pipe()
        compiler.standardError = errors
        try compiler.run()
        compiler.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try #require(compiler.terminationStatus == 0, "cc failed for \(name): \(message)")
    }
}
