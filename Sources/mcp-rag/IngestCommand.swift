import ArgumentParser
import Foundation
import KnowledgeBase

/// `mcp-rag ingest PATH... --technology LABEL`: fills the knowledge base from the shell.
///
/// Paths given here are not limited to the allowed roots: those guard what an MCP client (a model)
/// may read, while a person at a shell can read the files anyway.
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Add or update files and folders in the knowledge base (markdown, mdx, text, rst, html, PDF, Word, OpenDocument, EPUB, source code)."
    )

    @OptionGroup var options: KnowledgeBaseOptions

    @Argument(help: "Files and folders to ingest.")
    var paths: [String]

    @Option(help: "A short label for these documents, used as a query filter.")
    var technology: String

    @Flag(name: .customLong("no-prune"), help: "Keep sources whose files were deleted from an ingested folder.")
    var noPrune = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("Give at least one file or folder.") }
    }

    func run() async throws {
        let bar = ProgressBar()
        let report: IngestReport
        let (paths, technology, pruneMissing) = (self.paths, self.technology, !noPrune)
        do {
            // Before the knowledge base opens: a mistyped path or label creates no data folder,
            // loads no model, and the error is all that stderr shows.
            _ = try TechnologyLabel.validate(technology)
            try FileWalker.checkGiven(paths)
            report = try await options.withKnowledgeBase(logger: options.logger()) { knowledgeBase in
                try await knowledgeBase.ingest(paths: paths, technology: technology, reach: .anywhere,
                                               pruneMissing: pruneMissing) { bar.update($0) }
            }
        } catch let error as InvalidRequest {
            bar.finish()
            throw CLIError(error.description)
        }
        bar.finish()
        if json {
            try printJSON(report)
        } else {
            print("""
                \(report.filesScanned) files: \(report.filesWritten) written, \(report.filesUnchanged) unchanged, \
                \(report.filesSkipped.count) skipped; \(report.chunksAdded) passages added, \(report.chunksRemoved) removed, \
                \(report.chunksUnchanged) unchanged; \(report.chunksEmbedded) embedded in \(String(format: "%.1f", report.seconds)) s
                """)
            for skipped in report.filesSkipped {
                print("  skipped \(TerminalText.escapingControls(skipped.path)): \(skipped.reason)")
            }
            for removed in report.sourcesRemoved { print("  removed \(TerminalText.escapingControls(removed)) (file deleted)") }
        }
    }
}
