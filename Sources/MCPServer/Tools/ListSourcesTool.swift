import KnowledgeBase
import MCP

/// `list_sources`: what the knowledge base holds, summarised, then a page of files.
struct ListSourcesTool: RagTool {
    static let name = "list_sources"

    var definition: Tool {
        let group = { (what: String) in
            Schema.object([
                "name": Schema.string(what),
                "sources": Schema.integer("Files."),
                "chunks": Schema.integer("Passages."),
                "last_ingested_at": Schema.string("The latest ingest among them (ISO 8601)."),
            ], required: ["name", "sources", "chunks", "last_ingested_at"])
        }
        return Tool(
            name: Self.name,
            title: "List ingested sources",
            description: """
                What the knowledge base holds: totals, a summary per technology label and per folder, then the files \
                with their label, passage count and ingest time, a page at a time (pass next_cursor back as cursor).
                """,
            inputSchema: Schema.object([
                "technology_filter": Schema.string("Only sources with this technology label (case is ignored).",
                                                   maxLength: TechnologyLabel.maxLength),
                "cursor": Schema.string("The next_cursor of the previous page.", maxLength: 8_192),
                "limit": Schema.integer("Files on this page at most (fewer when their paths are long).",
                                        range: SourceListRequest.limitRange, defaultValue: SourceListRequest.defaultLimit),
            ]),
            annotations: .init(title: "List ingested sources", readOnlyHint: true, openWorldHint: false),
            outputSchema: Schema.object([
                "total_sources": Schema.integer("Files matching the filter."),
                "total_chunks": Schema.integer("Their passages."),
                "technologies": Schema.array(group("The label."), "Per technology label, by label."),
                "technologies_omitted": Schema.integer(
                    "Labels left out of that list to keep the answer short; each file's label is in sources, page by page."),
                "folders": Schema.array(group("The folder."), "Per folder under the one holding every file, by path."),
                "folders_omitted": Schema.integer(
                    "Folders left out of that list to keep the answer short; a technology_filter summarises fewer, and sources lists every file, page by page."),
                "sources": Schema.array(Schema.object([
                    "source": Schema.string("The file path."),
                    "technology": Schema.string("Its label."),
                    "chunks": Schema.integer("Passages stored for it."),
                    "ingested_at": Schema.string("When it was last written (ISO 8601)."),
                    "pages": Schema.integer("Its page count, for a PDF."),
                ], required: ["source", "technology", "chunks", "ingested_at"]), "This page, by path."),
                "next_cursor": Schema.string("Present when more files follow: pass it as cursor."),
            ], required: ["total_sources", "total_chunks", "technologies", "technologies_omitted", "folders",
                          "folders_omitted", "sources"], additional: true))
    }

    func call(_ arguments: [String: Value]?, context: ToolContext) async throws -> ToolOutput {
        let arguments = try ToolArguments(arguments, tool: Self.name, allowed: ["technology_filter", "cursor", "limit"])
        let request = SourceListRequest(
            technology: try arguments.string("technology_filter"), cursor: try arguments.string("cursor"),
            limit: try arguments.integer("limit", default: SourceListRequest.defaultLimit))
        return try ToolOutput(try await context.knowledgeBase.listSources(request))
    }
}
