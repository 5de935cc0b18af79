import KnowledgeBase
import MCP

/// `query_knowledge_base`: passages that answer a question, best first.
struct QueryKnowledgeBaseTool: RagTool {
    static let name = "query_knowledge_base"

    var definition: Tool {
        Tool(
            name: Self.name,
            title: "Search the knowledge base",
            description: """
                Search the user's ingested documents for passages relevant to a question or keywords. \
                Returns the best passages with their source file, heading, page (PDFs) and score. Use it before answering \
                questions about the user's own documentation, code or notes.
                """,
            inputSchema: Schema.object([
                "query": Schema.string("The question or keywords to search for.", maxLength: QueryRequest.maxQueryCharacters, minLength: 1),
                "n_results": Schema.integer("How many passages to return.", range: QueryRequest.resultLimitRange, defaultValue: 5),
                "technology_filter": Schema.string("Only return passages ingested with this technology label (see list_sources).",
                                                   maxLength: TechnologyLabel.maxLength),
                "mode": Schema.string("hybrid fuses meaning and keyword matches (best in general); semantic matches meaning only; keyword matches words only (exact names, error codes).",
                                      enumeration: SearchMode.allCases.map(\.rawValue), defaultValue: SearchMode.default.rawValue),
            ], required: ["query"]),
            annotations: .init(title: "Search the knowledge base", readOnlyHint: true, openWorldHint: false),
            outputSchema: Self.outputSchema)
    }

    static let outputSchema = Schema.object([
        "query": Schema.string("The query as searched (trimmed)."),
        "mode": Schema.string("The mode that produced the results (keyword when semantic search was unavailable).",
                              enumeration: SearchMode.allCases.map(\.rawValue)),
        "results": Schema.array(Schema.object([
            "id": Schema.string("Stable id of the passage."),
            "text": Schema.string("The passage."),
            "source": Schema.string("The file it came from."),
            "heading": Schema.string("The heading path above it, e.g. \"Install > Linux\"."),
            "technology": Schema.string("Its technology label."),
            "score": Schema.number("Cosine similarity (semantic), BM25 (keyword) or fused rank score (hybrid); higher is better."),
            "rank": Schema.integer("Position from 1."),
            "page": Schema.integer("The page it is on, from 1, when the file is a PDF."),
        ], required: ["id", "text", "source", "heading", "technology", "score", "rank"]), "Best first."),
        "results_omitted": Schema.integer(
            "Passages found but left out to keep the answer small (64 KB unless the server says otherwise); ask for fewer, or narrow with technology_filter."),
        "took_ms": Schema.number("Time spent answering, in milliseconds."),
        "cache_hit": Schema.boolean("Whether the answer came from the result cache."),
        "degraded": Schema.boolean("True when part of the search was unavailable."),
        "degraded_reason": Schema.string("Why the answer is degraded."),
    ], required: ["query", "mode", "results", "took_ms", "cache_hit", "degraded"], additional: true)

    func call(_ arguments: [String: Value]?, context: ToolContext) async throws -> ToolOutput {
        let arguments = try ToolArguments(arguments, tool: Self.name,
                                          allowed: ["query", "n_results", "technology_filter", "mode"])
        // QueryService.validate checks the limits, for this tool and the CLI alike.
        let request = QueryRequest(
            query: try arguments.string("query", required: true) ?? "",
            limit: try arguments.integer("n_results", default: 5),
            technology: try arguments.string("technology_filter"),
            mode: try arguments.choice("mode", default: SearchMode.default))
        let maxBytes = context.knowledgeBase.configuration.maxAnswerBytes
        return ToolOutput(query: try await context.knowledgeBase.query(request).cappedForAnswer(maxBytes: maxBytes))
    }
}
