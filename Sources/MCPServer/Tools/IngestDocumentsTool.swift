import KnowledgeBase
import MCP

/// `ingest_documents`: reads files inside the allowed folders into the knowledge base.
struct IngestDocumentsTool: RagTool {
    static let name = "ingest_documents"
    static let maxPaths = 100
    static let maxPathLength = 4096

    var definition: Tool {
        Tool(
            name: Self.name,
            title: "Ingest documents",
            description: """
                Add or update files and folders (markdown, text, reStructuredText, HTML, PDF, Word .docx, OpenDocument .odt, EPUB, source code) in the knowledge base \
                under a technology label. Unchanged files are skipped; changed ones replaced; files deleted from an \
                ingested folder are removed. Only paths inside the folders the user allowed can be read.
                """,
            inputSchema: Schema.object([
                "paths": Schema.array(Schema.string("A file or folder path.", maxLength: Self.maxPathLength, minLength: 1),
                                      "Files and folders to ingest.", maxItems: Self.maxPaths, minItems: 1),
                "technology": Schema.string("A short label for these documents, used as a filter (\"swift\", \"React Docs\").",
                                            maxLength: TechnologyLabel.maxLength, minLength: 1),
            ], required: ["paths", "technology"]),
            annotations: .init(title: "Ingest documents", readOnlyHint: false, destructiveHint: false, idempotentHint: true,
                               openWorldHint: false),
            outputSchema: Self.outputSchema)
    }

    static let outputSchema = Schema.object([
        "files_scanned": Schema.integer("Files found."),
        "files_written": Schema.integer("New or changed files whose passages were written."),
        "files_unchanged": Schema.integer("Files unchanged since the last ingest."),
        "files_skipped": Schema.array(Schema.object([
            "path": Schema.string("The file."),
            "reason": Schema.string("Why it was skipped."),
        ], required: ["path", "reason"]), "Files left out (the first ones; see files_skipped_omitted)."),
        "files_skipped_omitted": Schema.integer(
            "Skipped files not listed, to keep the answer short; `mcp-rag ingest` with the same paths lists every one."),
        "sources_removed": Schema.array(Schema.string("A path."),
                                        "Sources removed because their files are gone (the first ones; see sources_removed_omitted)."),
        "sources_removed_omitted": Schema.integer(
            "Removed sources not listed, to keep the answer short; list_sources shows what the knowledge base still holds."),
        "chunks_added": Schema.integer("Passages written."),
        "chunks_removed": Schema.integer("Passages deleted."),
        "chunks_unchanged": Schema.integer("Passages kept as they were."),
        "chunks_embedded": Schema.integer("Passages run through the model."),
        "seconds": Schema.number("Time taken."),
    ], required: ["files_scanned", "files_written", "files_unchanged", "files_skipped", "sources_removed",
                  "chunks_added", "chunks_removed", "chunks_unchanged", "chunks_embedded", "seconds"], additional: true)

    func call(_ arguments: [String: Value]?, context: ToolContext) async throws -> ToolOutput {
        let arguments = try ToolArguments(arguments, tool: Self.name, allowed: ["paths", "technology"])
        let paths = try arguments.strings("paths", maxCount: Self.maxPaths, maxLength: Self.maxPathLength)
        // The Ingestor validates the label, for this tool and the CLI alike.
        let technology = try arguments.string("technology", required: true) ?? ""
        let progress = context.progress
        let report = try await context.knowledgeBase.ingest(paths: paths, technology: technology) { step in
            await progress(Double(step.filesDone), Double(step.filesTotal),
                           "\(step.filesDone)/\(step.filesTotal) files, \(step.chunksEmbedded) passages embedded")
        }
        return try ToolOutput(report.cappedForAnswer())
    }
}
