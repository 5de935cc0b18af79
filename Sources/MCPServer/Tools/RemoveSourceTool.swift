import KnowledgeBase
import MCP

/// `remove_source`: forgets a file (or every file under a folder).
struct RemoveSourceTool: RagTool {
    static let name = "remove_source"

    struct Output: Encodable {
        let removedSources: [String]
        let removedSourcesOmitted: Int
        let chunksRemoved: Int

        enum CodingKeys: String, CodingKey {
            case removedSources = "removed_sources"
            case removedSourcesOmitted = "removed_sources_omitted"
            case chunksRemoved = "chunks_removed"
        }
    }

    /// Paths listed at most: a folder of thousands of files would otherwise fill the assistant's context.
    static let maxListed = 100

    var definition: Tool {
        Tool(
            name: Self.name,
            title: "Remove a source",
            description: """
                Remove a file's passages from the knowledge base (the file itself is not touched), or those of every \
                file under a folder. The path must be inside the folders the user allowed; it may no longer exist on disk.
                """,
            inputSchema: Schema.object([
                "source": Schema.string("The file or folder path, as listed by list_sources.",
                                        maxLength: IngestDocumentsTool.maxPathLength, minLength: 1),
            ], required: ["source"]),
            annotations: .init(title: "Remove a source", readOnlyHint: false, destructiveHint: true, idempotentHint: true,
                               openWorldHint: false),
            outputSchema: Schema.object([
                "removed_sources": Schema.array(Schema.string("A path."),
                                                "Sources removed (the first ones; see removed_sources_omitted)."),
                "removed_sources_omitted": Schema.integer(
                    "Removed sources not listed, to keep the answer short; list_sources shows what the knowledge base still holds."),
                "chunks_removed": Schema.integer("Passages deleted."),
            ], required: ["removed_sources", "removed_sources_omitted", "chunks_removed"], additional: true))
    }

    func call(_ arguments: [String: Value]?, context: ToolContext) async throws -> ToolOutput {
        let arguments = try ToolArguments(arguments, tool: Self.name, allowed: ["source"])
        let source = try arguments.string("source", required: true, maxLength: IngestDocumentsTool.maxPathLength) ?? ""
        let removal = try await context.knowledgeBase.remove(source: source)
        let listed = AnswerBudget.prefix(removal.sources, maxItems: Self.maxListed, maxBytes: AnswerBudget.listBytes) {
            AnswerBudget.perCopy($0) + 4
        }
        return try ToolOutput(Output(removedSources: listed.kept, removedSourcesOmitted: listed.omitted,
                                     chunksRemoved: removal.chunks))
    }
}
