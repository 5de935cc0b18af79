import KnowledgeBase
import MCP

/// `get_cache_warming_stats`: the most asked queries and how the result cache does.
struct CacheWarmingStatsTool: RagTool {
    static let name = "get_cache_warming_stats"

    var definition: Tool {
        Tool(
            name: Self.name,
            title: "Query statistics and cache",
            description: """
                List the most frequently asked queries (with counts, last use and filter) and the result cache's \
                figures: entries, hit rate and the last warm-up. Use it to see what people search for.
                """,
            inputSchema: Schema.object([
                "top_n": Schema.integer("How many of the most asked queries to list.", range: CacheWarmingReport.topRange, defaultValue: 20),
            ]),
            annotations: .init(title: "Query statistics and cache", readOnlyHint: true, openWorldHint: false),
            outputSchema: Schema.object([
                "total_unique_queries": Schema.integer("Distinct queries tracked (normalised: trimmed, whitespace collapsed, lower-cased)."),
                "total_queries": Schema.integer("All tracked queries, repeats included."),
                "top_queries": Schema.array(Schema.object([
                    "query": Schema.string("The query."),
                    "count": Schema.integer("Times asked."),
                    "last_accessed": Schema.string("When last asked (ISO 8601)."),
                    "technology_filter": Schema.string("The filter it was last asked with."),
                ], required: ["query", "count", "last_accessed"]), "Most asked first (as many as fit; see top_queries_omitted)."),
                "top_queries_omitted": Schema.integer("Top queries left out to keep the answer short; ask for fewer with top_n."),
                "cache": Schema.object([
                    "backend": Schema.string("Where results are cached."),
                    "enabled": Schema.boolean("Whether the cache is on."),
                    "entries": Schema.integer("Cached answers."),
                    "hits": Schema.integer("Lookups answered from the cache."),
                    "misses": Schema.integer("Lookups not in the cache."),
                    "bypassed": Schema.integer("Lookups that skipped the cache because it was unavailable (Redis down)."),
                    "hit_rate": Schema.number("hits / (hits + misses)."),
                    "warmed": Schema.integer("Queries answered into the cache by the last warm-up."),
                    "last_warm_at": Schema.string("When the last warm-up finished (ISO 8601)."),
                    "warm_ms": Schema.number("How long it took, in milliseconds."),
                ], required: ["backend", "enabled", "entries", "hits", "misses", "hit_rate", "warmed"], additional: true),
                "backend": Schema.string("Where query statistics are kept: sqlite or redis."),
                "tracking": Schema.object([
                    "pending": Schema.integer("Queries counted by this process but not yet written (the tracker is unavailable)."),
                    "dropped": Schema.integer("Queries whose count was lost because the buffer of pending ones was full."),
                    "last_error": Schema.string("Why the last write to the tracker failed."),
                ], required: ["pending", "dropped"], additional: true),
                "degraded": Schema.boolean("True when the statistics could not be read; the figures are then zero."),
                "degraded_reason": Schema.string("Why they could not be read."),
            ], required: ["total_unique_queries", "total_queries", "top_queries", "cache", "backend", "tracking", "degraded"],
               additional: true))
    }

    func call(_ arguments: [String: Value]?, context: ToolContext) async throws -> ToolOutput {
        let arguments = try ToolArguments(arguments, tool: Self.name, allowed: ["top_n"])
        let top = try arguments.integer("top_n", default: 20)
        return try ToolOutput(try await context.knowledgeBase.cacheWarmingReport(top: top).cappedForAnswer())
    }
}
