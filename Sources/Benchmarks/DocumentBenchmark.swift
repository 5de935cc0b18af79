import Dispatch
import Embeddings
import Foundation
import KnowledgeBase

/// Per format, how fast documents become passages without embedding them (read from memory,
/// text extracted, chunked as an ingest chunks), and how that compares with embedding the same
/// passages: formats must never be what an ingest waits for.
public struct DocumentBenchmarkReport: Sendable, Codable {
    public struct Format: Sendable, Codable {
        /// "pdf", "docx", "html", …
        public var format: String
        public var files: Int
        /// Files the loader skipped (the reason is not part of the benchmark).
        public var skipped: Int
        /// Pages, for PDF; 0 otherwise.
        public var pages: Int
        public var textBytes: Int
        public var passages: Int
        /// The best round's time to extract and chunk every file of the format.
        public var seconds: Double
        public var filesPerSecond: Double
        public var pagesPerSecond: Double
        /// The time embedding these passages would take at `embeddingPassagesPerSecond`, over `seconds`.
        public var embeddingOverExtraction: Double
    }

    public var formats: [Format]
    /// Passages embedded per second, measured on (up to) 256 of the passages extracted.
    public var embeddingPassagesPerSecond: Double
    public var embeddingBackend: String
    public var rounds: Int
}

public struct DocumentBenchmark: Sendable {
    /// Rounds of extraction per format; the best is kept.
    public var rounds = 3
    /// Passages embedded for the embedding rate.
    public var embeddingSample = 256

    public init() {}

    /// Extracts every file under `folder` whose kind mcp-rag reads, `rounds` times, and embeds a
    /// sample of the passages with the model `model` names.
    public func run(folder: URL, model: ModelSelection) throws -> DocumentBenchmarkReport {
        let embedder = try model.load().embedder
        let chunker = embedder.passageChunker(fillingWindow: false)
        let loader = DocumentLoader(configuration: .init(maxFileBytes: 256 << 20))
        var files: [String: [(bytes: [UInt8], kind: DocumentKind)]] = [:]
        let paths = (FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String } ?? []).sorted()
        for path in paths {
            let url = folder.appendingPathComponent(path)
            guard let kind = DocumentKind(url: url), let data = FileManager.default.contents(atPath: url.path) else { continue }
            files[Self.name(of: kind), default: []].append(([UInt8](data), kind))
        }
        var formats: [DocumentBenchmarkReport.Format] = []
        var sample: [String] = []
        for (format, documents) in files.sorted(by: { $0.key < $1.key }) {
            var best = Double.infinity
            var figures = (skipped: 0, pages: 0, textBytes: 0, passages: 0)
            for round in 0..<max(1, rounds) {
                figures = (0, 0, 0, 0)
                let start = DispatchTime.now().uptimeNanoseconds
                for document in documents {
                    guard let loaded = loader.load(bytes: document.bytes, kind: document.kind).document else {
                        figures.skipped += 1
                        continue
                    }
                    let chunks = chunker.chunks(of: loaded)
                    figures.pages += loaded.pages.count
                    figures.textBytes += chunks.reduce(0) { $0 + $1.text.utf8.count }
                    figures.passages += chunks.count
                    // A few passages of each file, for the embedding rate: every format has its share.
                    if round == 0 { sample += chunks.prefix(2).map(\.text) }
                }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            formats.append(DocumentBenchmarkReport.Format(
                format: format, files: documents.count, skipped: figures.skipped, pages: figures.pages,
                textBytes: figures.textBytes, passages: figures.passages, seconds: best,
                filesPerSecond: Double(documents.count) / best, pagesPerSecond: Double(figures.pages) / best,
                embeddingOverExtraction: 0))
        }
        let step = max(1, (sample.count + embeddingSample - 1) / embeddingSample)
        let rate = try passagesPerSecond(stride(from: 0, to: sample.count, by: step).map { sample[$0] }, embedder: embedder)
        for index in formats.indices where rate > 0 && formats[index].seconds > 0 {
            formats[index].embeddingOverExtraction = Double(formats[index].passages) / rate / formats[index].seconds
        }
        return DocumentBenchmarkReport(formats: formats, embeddingPassagesPerSecond: rate,
                                       embeddingBackend: embedder.backendName, rounds: max(1, rounds))
    }

    private func passagesPerSecond(_ texts: [String], embedder: SentenceEmbedder) throws -> Double {
        guard !texts.isEmpty else { return 0 }
        _ = try embedder.embedBlocking(Array(texts.prefix(8)))
        let start = DispatchTime.now().uptimeNanoseconds
        for batch in stride(from: 0, to: texts.count, by: 32) {
            _ = try embedder.embedBlocking(Array(texts[batch..<min(batch + 32, texts.count)]))
        }
        return Double(texts.count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    static func name(of kind: DocumentKind) -> String {
        switch kind {
        case .pdf: "pdf"
        case .docx: "docx"
        case .odt: "odt"
        case .epub: "epub"
        case .html: "html"
        case .markdown, .mdx: "markdown"
        case .restructuredText: "rst"
        case .text: "text"
        case .sourceCode: "code"
        }
    }
}
