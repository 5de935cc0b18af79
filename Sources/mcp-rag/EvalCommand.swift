import ArgumentParser
import Foundation
import KnowledgeBase

/// `mcp-rag eval DIR`: retrieval quality on a labelled benchmark in the BEIR layout.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure retrieval quality (nDCG@10, Recall@10/100, MRR@10) on a BEIR-layout folder, per search mode.",
        discussion: """
            DIR holds corpus.jsonl (_id, title, text), queries.jsonl (_id, text) and qrels/<split>.tsv. The corpus \
            is ingested into a temporary knowledge base (or the folder given with --data-dir, kept for the next run), \
            and every judged query is run in each mode. Your own knowledge base is not touched.
            """
    )

    @OptionGroup var options: KnowledgeBaseOptions

    @Argument(help: "A BEIR-layout folder.")
    var folder: String

    @Option(help: "The qrels file to judge by: qrels/<split>.tsv.")
    var split = "test"

    @Option(name: .customLong("mode"), help: "A mode to evaluate (repeatable; default: all three).")
    var modes: [SearchMode] = []

    @Flag(help: "Index each document whole and let the model read what its window holds, as MTEB does, instead of chunking it (to compare with published figures).")
    var truncate = false

    @Option(name: .customLong("runs"), help: "A folder to write each mode's ranking into, as a TREC run file (<mode>.trec).")
    var runsFolder: String?

    @Flag(help: "Search through the Chroma collection of CHROMA_URL from a second knowledge base that never ingested the corpus: the corpus is ingested and sent to Chroma first, then every query is asked of a fresh, empty data folder that copies what it needs from the collection, as a process on another machine would. Needs CHROMA_COLLECTION naming a collection of the benchmark's own: one holding other sources is refused before anything is written.")
    var throughChroma = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let dataset: BEIRDataset
        do {
            dataset = try BEIRDataset(folder: URL(fileURLWithPath: folder), split: split)
        } catch let error as BEIRDatasetError {
            throw CLIError(error.description)
        }
        // Before the long part: a run that cannot be saved should fail at once.
        if let runsFolder { try Self.createFolder(URL(fileURLWithPath: runsFolder)) }
        var (configuration, temporary) = try options.scratchConfiguration(prefix: "mcp-rag-eval")
        // The benchmark's store is private, so its cache and statistics are too: a shared Redis
        // would have its cache cleared by every evaluation's ingest.
        configuration.redis = nil
        if throughChroma {
            // The corpus goes into the collection: never into one named by default, which may
            // be someone's knowledge base.
            guard configuration.chroma != nil, ProcessInfo.processInfo.environment["CHROMA_COLLECTION"] != nil else {
                throw CLIError("--through-chroma fills a Chroma collection with the corpus: set CHROMA_URL, and CHROMA_COLLECTION to a collection of the benchmark's own")
            }
        } else {
            configuration.chroma = nil
        }
        defer { if let temporary { try? FileManager.default.removeItem(at: temporary) } }
        var (reader, readerFolder) = try options.scratchConfiguration(prefix: "mcp-rag-eval-reader", alwaysTemporary: true)
        reader.redis = nil
        defer { if let readerFolder { try? FileManager.default.removeItem(at: readerFolder) } }
        let logger = options.reportLogger()
        let progress = ProgressLine()
        let report: EvaluationReport
        let (truncate, modes, name, split, throughChroma) = (self.truncate, self.modes.isEmpty ? SearchMode.allCases : self.modes,
                                                             URL(fileURLWithPath: folder).lastPathComponent, self.split,
                                                             self.throughChroma)
        @Sendable func evaluate(_ evaluation: RetrievalEvaluation) async throws -> [ModeEvaluation] {
            try await evaluation.evaluate(dataset, modes: modes) { mode in
                progress.show("running \(dataset.queries.count) queries, \(mode.rawValue)")
            }
        }
        do {
            if throughChroma {
                // Before anything is written: the collection holds this benchmark or nothing.
                try await options.withKnowledgeBase(reader, logger: logger) { knowledgeBase in
                    try await knowledgeBase.retrievalEvaluation().checkHoldsOnly(
                        dataset, name: "the Chroma collection", remedy: "name a new collection in CHROMA_COLLECTION")
                }
            }
            var (ingest, results): (EvaluationIngest, [ModeEvaluation]) = try await options.withKnowledgeBase(configuration, logger: logger) { knowledgeBase in
                let evaluation = try await knowledgeBase.retrievalEvaluation()
                let ingest = try await evaluation.ingest(dataset, truncate: truncate) { done, total in
                    progress.show("ingesting \(done)/\(total) documents")
                }
                guard !throughChroma else {
                    progress.show("sending the corpus to Chroma")
                    try await knowledgeBase.sendPendingChanges()
                    return (ingest, [ModeEvaluation]())
                }
                return (ingest, try await evaluate(evaluation))
            }
            if throughChroma {
                results = try await options.withKnowledgeBase(reader, logger: logger) { knowledgeBase in
                    progress.show("copying the collection into an empty data folder")
                    return try await evaluate(try await knowledgeBase.retrievalEvaluation())
                }
            }
            report = EvaluationReport(dataset: name, split: split,
                                      passages: truncate ? "whole documents, truncated by the model" : "chunks",
                                      searched: throughChroma ? "in Chroma, by a process that did not ingest the corpus"
                                          : "in the embedded store",
                                      queries: dataset.queries.count, ingest: ingest, modes: results)
        } catch let error as InvalidRequest {
            progress.finish()
            throw CLIError(error.description)
        } catch let error as EmbeddingUnavailable {
            progress.finish()
            throw CLIError(error.description)
        }
        progress.finish()
        if let runsFolder { try Self.writeRuns(report.modes, to: URL(fileURLWithPath: runsFolder)) }
        if json {
            try printJSON(report)
        } else {
            print(Self.table(report))
        }
    }

    static func createFolder(_ folder: URL) throws {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw CLIError("cannot create the runs folder \(folder.path): \(error.localizedDescription)")
        }
    }

    static func writeRuns(_ modes: [ModeEvaluation], to folder: URL) throws {
        do {
            for mode in modes {
                try Data(mode.trecRun.utf8).write(to: folder.appendingPathComponent("\(mode.mode.rawValue).trec"))
            }
        } catch {
            throw CLIError("cannot write the runs into \(folder.path): \(error.localizedDescription)")
        }
    }

    static func table(_ report: EvaluationReport) -> String {
        func f(_ value: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", value) }
        func column(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        let ingest = report.ingest
        var lines = [
            "mcp-rag eval — \(report.dataset) (\(report.split)): \(ingest.documents) documents in \(ingest.chunks) chunks, \(report.queries) queries",
            "indexed as \(report.passages), searched \(report.searched), embedded by \(ingest.model) (fingerprint \(ingest.modelFingerprint)); "
                + "ingest: \(ingest.documentsWritten) documents written, \(ingest.documentsUnchanged) unchanged, "
                + "\(ingest.chunksEmbedded) chunks embedded in \(f(ingest.seconds, 1)) s",
            "",
            column("mode", 10) + column("nDCG@10", 10) + column("R@10", 10) + column("R@100", 10) + column("MRR@10", 10)
                + column("time", 10) + "p50/p99 per query",
        ]
        for result in report.modes {
            let s = result.scores
            lines.append(column(result.mode.rawValue, 10) + column(f(s.ndcgAt10), 10) + column(f(s.recallAt10), 10)
                + column(f(s.recallAt100), 10) + column(f(s.mrrAt10), 10) + column(f(result.seconds, 1) + " s", 10)
                + f(result.p50Milliseconds, 1) + "/" + f(result.p99Milliseconds, 1) + " ms")
        }
        return lines.joined(separator: "\n")
    }
}

/// What `mcp-rag eval --json` prints.
struct EvaluationReport: Codable {
    var dataset: String
    var split: String
    /// What was indexed per document.
    var passages: String
    /// Where the searches ran.
    var searched: String
    var queries: Int
    var ingest: EvaluationIngest
    var modes: [ModeEvaluation]
}
