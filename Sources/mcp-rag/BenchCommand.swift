import ArgumentParser
import Benchmarks
import Foundation
import KnowledgeBase

/// `mcp-rag bench`: the benchmarks; the embedding one unless another is named.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed: embedding (the default), what Redis adds to a query, search at scale, reading documents, or watched folders.",
        subcommands: [EmbeddingBenchCommand.self, RedisBenchCommand.self, SearchBenchCommand.self, DocumentBenchCommand.self,
                      WatchBenchCommand.self],
        defaultSubcommand: EmbeddingBenchCommand.self
    )
}

/// `mcp-rag bench [embedding]`: the CPU embedding benchmark, as a table or as JSON.
struct EmbeddingBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embedding",
        abstract: "Measure embedding speed: sgemm rate, throughput, single-query latency, tokenizer, load time, memory."
    )

    @OptionGroup var model: ModelOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Seconds per throughput measurement.")
    var seconds: Double = 3

    func validate() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600].") }
    }

    func run() throws {
        var benchmark = EmbeddingBenchmark()
        benchmark.secondsPerMeasurement = seconds
        let report: EmbeddingBenchmarkReport
        do {
            report = try benchmark.run(model.selection())
        } catch let error as ConfigurationError {
            throw CLIError(error.description)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(report))
            FileHandle.standardOutput.write(Data("\n".utf8))
        } else {
            print(Self.table(report))
        }
    }

    /// sentence-transformers 6.2 (PyTorch 2.15, 2 threads, fp32) on the project's 2-core Zen 5
    /// machines, for comparison: `tools/bench_models.py --only minilm` (SciFact passages cut to 32
    /// and 240 word pieces, best of two rounds, 2026-12-07), and the p50 of 600 `encode` calls on
    /// the query below. Other hosts differ, which is why the table names the host; the script
    /// measures both engines in one run on any host.
    static let referenceSentencesPerSecond = [32: 268.0, 240: 31.0]
    static let referenceQueryMilliseconds = 6.9

    static func table(_ r: EmbeddingBenchmarkReport) -> String {
        func f(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
        let replaced = r.blasCoreReplaced.map { " (OpenBLAS chose \($0), not knowing this CPU)" } ?? ""
        var lines = ["mcp-rag bench — backend \(r.backend), \(r.threads) threads, OpenBLAS core \(r.blasCore)\(replaced)"]
        if let kernel = r.packedBatchKernel {
            lines.append("batches: the \(kernel) kernel, whose vectors are wider than OpenBLAS's \(r.blasCore) kernels")
        }
        lines.append("")
        lines.append("sgemm (rows × k · k × n)        GFLOP/s")
        for g in r.gemm { lines.append("  \(g.m) × \(g.k) · \(g.k) × \(g.n)".padding(toLength: 32, withPad: " ", startingAt: 0) + f(g.gflops)) }
        lines.append("  weighted over the layer".padding(toLength: 32, withPad: " ", startingAt: 0) + f(r.gemmGFLOPS))
        if let kernel = r.packedBatchKernel, let rate = r.packedBatchKernelGFLOPS {
            lines.append("  \(kernel), weighted".padding(toLength: 32, withPad: " ", startingAt: 0) + f(rate))
        }
        lines.append("")
        lines.append("throughput    batch  sentences/s  tokens/s   GFLOP/s  % of kernel  vs sentence-transformers on Zen 5")
        for t in r.throughput {
            let reference = referenceSentencesPerSecond[t.tokensPerText].map { f(t.sentencesPerSecond / $0, 2) + "×" } ?? "–"
            lines.append("  \(t.tokensPerText) tokens".padding(toLength: 14, withPad: " ", startingAt: 0)
                + "\(t.batchSize)".padding(toLength: 7, withPad: " ", startingAt: 0)
                + f(t.sentencesPerSecond).padding(toLength: 13, withPad: " ", startingAt: 0)
                + f(t.tokensPerSecond, 0).padding(toLength: 11, withPad: " ", startingAt: 0)
                + f(t.effectiveGFLOPS).padding(toLength: 9, withPad: " ", startingAt: 0)
                + (f(100 * t.effectiveGFLOPS / (r.packedBatchKernelGFLOPS ?? r.gemmGFLOPS), 0) + "%").padding(toLength: 13, withPad: " ", startingAt: 0)
                + reference)
        }
        lines.append("")
        lines.append("single query (\(r.singleQueryTokens) tokens): p50 \(f(r.singleQueryP50Milliseconds, 2)) ms, p99 \(f(r.singleQueryP99Milliseconds, 2)) ms"
            + " (sentence-transformers on Zen 5: \(f(referenceQueryMilliseconds)) ms)")
        lines.append("tokenizer: \(f(r.tokenizerTokensPerSecond / 1e6, 2)) M tokens/s on one thread")
        lines.append("model load: \(f(r.modelLoadMilliseconds)) ms")
        lines.append("peak RSS: \(f(r.peakResidentMegabytes)) MB")
        return lines.joined(separator: "\n")
    }
}

/// `mcp-rag bench documents FOLDER`: PDF, Word and HTML files turned into passages, against embedding them.
struct DocumentBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "documents",
        abstract: "Measure document reading: files and pages per second extracted and chunked per format, against the time embedding them takes."
    )

    @OptionGroup var model: ModelOptions

    @Argument(help: "A folder of documents (tools/bench_documents.py makes one).")
    var folder: String

    @Option(help: "Rounds of extraction per format; the best is kept.")
    var rounds = 3

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard (1...100).contains(rounds) else { throw ValidationError("--rounds must be in 1...100.") }
    }

    func run() throws {
        var benchmark = DocumentBenchmark()
        benchmark.rounds = rounds
        let report: DocumentBenchmarkReport
        do {
            report = try benchmark.run(folder: URL(fileURLWithPath: folder), model: model.selection())
        } catch let error as ConfigurationError {
            throw CLIError(error.description)
        }
        if json {
            try printJSON(report)
            return
        }
        func f(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
        print("mcp-rag bench documents — best of \(report.rounds) rounds; embedding \(f(report.embeddingPassagesPerSecond)) passages/s (\(report.embeddingBackend))")
        print("format  files  pages  passages  text MB  seconds  files/s  pages/s  embedding ÷ extraction")
        for format in report.formats {
            let columns = [format.format, "\(format.files)", "\(format.pages)", "\(format.passages)",
                           f(Double(format.textBytes) / 1e6, 2), f(format.seconds, 3), f(format.filesPerSecond),
                           format.pages > 0 ? f(format.pagesPerSecond) : "–", f(format.embeddingOverExtraction) + "×"]
            let widths = [8, 7, 7, 10, 9, 9, 9, 9, 0]
            print(zip(columns, widths).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }.joined())
        }
    }
}

/// `mcp-rag bench watch`: from a file saved in a watched folder to its passage found, and a burst.
struct WatchBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Measure watched folders: the time from a file saved to its passage searchable, and a burst of files.",
        discussion: "Runs in a knowledge base and a folder of its own (both temporary), watching as `serve --watch` does."
    )

    @OptionGroup var options: KnowledgeBaseOptions

    @Option(help: "Files saved one at a time, each waited for.")
    var saves = 20

    @Option(help: "Files written at once afterwards (0: none).")
    var burst = 500

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard (1...10_000).contains(saves) else { throw ValidationError("--saves must be between 1 and 10000.") }
        guard (0...100_000).contains(burst) else { throw ValidationError("--burst must be between 0 and 100000.") }
    }

    func run() async throws {
        var (configuration, temporary) = try options.scratchConfiguration(prefix: "mcp-rag-bench-watch", alwaysTemporary: true)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-rag-bench-watched-\(UUID().uuidString)")
        defer {
            if let temporary { try? FileManager.default.removeItem(at: temporary) }
            try? FileManager.default.removeItem(at: folder)
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        configuration.watchFolders = true
        configuration.warmTopQueries = 0
        let benchmark = WatchBenchmark(saves: saves, burstFiles: burst)
        let real = folder.resolvingSymlinksInPath()
        let report = try await options.withKnowledgeBase(configuration, logger: options.reportLogger()) {
            try await benchmark.run(on: $0, folder: real)
        }
        if json {
            try printJSON(report)
            return
        }
        func f(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
        print("mcp-rag bench watch")
        print("saved → searchable (\(report.saves) saves): p50 \(f(report.saveToSearchableP50Ms)) ms, "
            + "p90 \(f(report.saveToSearchableP90Ms)) ms, max \(f(report.saveToSearchableMaxMs)) ms")
        if report.burstFiles > 0 {
            print("burst of \(report.burstFiles) files: all searchable in \(f(report.burstSeconds, 2)) s "
                + "(\(f(report.burstFilesPerSecond)) files/s), in \(report.burstBatches) batches")
        }
    }
}
