import ArgumentParser
import Benchmarks
import Foundation
import KnowledgeBase
import Logging

/// `mcp-rag bench search`: how semantic search in the embedded store scales with its size.
struct SearchBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Measure the embedded store's semantic search at growing sizes: latency, memory, opening, recall.",
        discussion: """
            Fills temporary stores with synthetic vectors (clustered, as embeddings are; no model needed) \
            and passages of made-up words, \
            reopens each (from its vector snapshot file, and once without it), and times 200 searches for \
            the best 10, checking them against an exact float32 search. The latency is the store's: the \
            query's embedding is not included.
            """
    )

    @Option(help: "Store sizes to measure, comma-separated.")
    var chunks: String = "10000,100000"

    @Option(help: "Folder for the temporary stores (default: the system's temporary folder).")
    var folder: String?

    @Option(help: ArgumentHelp("Keep each store in <folder>/<chunks>/, a data folder a server can be pointed at "
        + "(MCP_RAG_DATA_DIR), with queries.json: questions in the store's made-up words.", valueName: "folder"))
    var keep: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let listed = chunks.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let sizes = listed.compactMap { Int($0) }
        guard !listed.isEmpty, sizes.count == listed.count, sizes.allSatisfy({ (1_000...10_000_000).contains($0) }) else {
            throw ValidationError("--chunks must list sizes between 1000 and 10000000, such as 10000,100000,1000000")
        }
        let kept = try keep.map { try Self.keptFolders(under: $0, sizes: sizes) }
        let base = URL(fileURLWithPath: folder ?? NSTemporaryDirectory())
            .appendingPathComponent("mcp-rag-search-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let logger = Logger(label: "mcp-rag.bench") { _ in SwiftLogNoOpLogHandler() }
        let benchmark = VectorSearchBenchmark()
        var points: [VectorSearchBenchmark.Point] = []
        for size in sizes {
            if !json { FileHandle.standardError.write(Data("bench: \(size) chunks…\n".utf8)) }
            points.append(try benchmark.measure(chunks: size, folder: kept?[size] ?? base, keep: kept != nil, logger: logger))
        }
        if json {
            try printJSON(points)
        } else {
            print("chunks      fill s   open s   cold open s   vectors MiB   mapped MiB   store RSS MiB   search p50 ms   p99 ms   recall@10")
            for p in points {
                print(String(format: "%-10d %7.1f %8.2f %13.2f %13.1f %12.1f %15.0f %15.2f %8.2f %11.4f", p.chunks, p.fillSeconds,
                             p.openSeconds, p.coldOpenSeconds, Double(p.vectorBytes) / 1_048_576, Double(p.mappedBytes) / 1_048_576,
                             Double(p.storeResidentBytes) / 1_048_576,
                             p.searchMsP50, p.searchMsP99, p.recallAt10))
            }
        }
    }

    /// `<keep>/<chunks>/` for each size, made empty folders; a knowledge base already in one is
    /// refused, not overwritten.
    static func keptFolders(under keep: String, sizes: [Int]) throws -> [Int: URL] {
        var folders: [Int: URL] = [:]
        for size in sizes {
            let folder = URL(fileURLWithPath: keep).appendingPathComponent(String(size))
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("knowledge.sqlite3").path) {
                throw ValidationError("\(folder.path) already holds a knowledge base; give --keep a new folder")
            }
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            folders[size] = folder
        }
        return folders
    }
}
