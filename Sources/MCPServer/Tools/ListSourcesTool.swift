import Foundation
import KnowledgeBase
import MCP
import Storage

/// `list_sources`: what the knowledge base holds.
struct ListSourcesTool: RagTool {
    static let name = "list_sources"

    struct Output: Encodable {
        struct Source: Encodable {
            let source: String
            let technology: String
            let chunks: Int
            let ingestedAt: Date

            enum CodingKeys: String, CodingKey {
                case source, technology, chunks
                case ingestedAt = "ingested_at"
            }
        }

        let sources: [Source]
        let totalChunks: Int
        let technologies: [String]

        enum CodingKeys: String, CodingKey {
            case sources
            case totalChunks = "total_chunks"
            case technologies
        }
    }

    var definition: Tool {
        Tool(
            name: Self.name,
            title: "List ingested sources",
            description: "List the files in the knowledge base with their technology label, chunk count and when they were ingested.",
            inputSchema: Schema.object([
                "technology_filter": Schema.string("Only list sources with this technology label.", maxLength: TechnologyLabel.maxLength),
            ]),
            annotations: .init(title: "List ingested sources", readOnlyHint: true, openWorldHint: false),
            outputSchema: Schema.object([
                "sources": Schema.array(Schema.object([
                    "source": Schema.string("The file path."),
                    "technology": Schema.string("Its label."),
                    "chunks": Schema.integer("Passages stored for it."),
                    "ingested_at": Schema.string("When it was last written (ISO 8601)."),
                ], required: ["source", "technology", "chunks", "ingested_at"]), "Ordered by path."),
                "total_chunks": Schema.integer("Passages in the knowledge base."),
                "technologies": Schema.array(Schema.string("A label."), "Every technology label in use."),
            ], required: ["sources", "total_chunks", "technologies"], additional: true))
    }

    func call(_ arguments: [String: Value]?, context: ToolContext) async throws -> ToolOutput {
        let arguments = try ToolArguments(arguments, tool: Self.name, allowed: ["technology_filter"])
        let filter = try arguments.string("technology_filter", maxLength: TechnologyLabel.maxLength)
        let store = try await context.runtime.runtime().store
        let (sources, technologies) = try await BlockingExecutor.run { (try store.listSources(), try store.technologies()) }
        let listed = sources.filter { filter == nil || $0.technology == filter }
        return try ToolOutput(Output(
            sources: listed.map { .init(source: $0.source, technology: $0.technology, chunks: $0.chunkCount, ingestedAt: $0.ingestedAt) },
            totalChunks: store.chunkCount(), technologies: technologies))
    }
}
