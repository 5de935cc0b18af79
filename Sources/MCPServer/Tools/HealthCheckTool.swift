import KnowledgeBase
import MCP

/// `health_check`: the truth about every dependency.
struct HealthCheckTool: RagTool {
    static let name = "health_check"

    var definition: Tool {
        Tool(
            name: Self.name,
            title: "Check mcp-rag's health",
            description: """
                Report whether the knowledge base and each dependency (vector store, query tracker, result cache, \
                embedding model, GPU) work, how fast they answer, and the process's memory and CPU use. \
                Use it when searches fail or seem slow.
                """,
            inputSchema: Schema.object([
                "level": Schema.string("liveness: the process answers; readiness: every dependency; deep: also embeds a probe and searches.",
                                       enumeration: HealthLevel.allCases.map(\.rawValue), defaultValue: HealthLevel.readiness.rawValue),
            ]),
            annotations: .init(title: "Check mcp-rag's health", readOnlyHint: true, openWorldHint: false),
            outputSchema: Self.outputSchema)
    }

    static let statusValues = ["healthy", "degraded", "unhealthy", "not_configured"]

    static let outputSchema = Schema.object([
        "status": Schema.string("healthy, degraded or unhealthy overall.", enumeration: statusValues),
        "level": Schema.string("The level checked.", enumeration: HealthLevel.allCases.map(\.rawValue)),
        "uptime_s": Schema.number("Seconds since the server started."),
        "version": Schema.string("mcp-rag's version."),
        "duration_ms": Schema.number("Time the check took, in milliseconds."),
        "dependencies": Schema.map(Schema.object([
            "status": Schema.string("This dependency's state.", enumeration: statusValues),
            "latency_ms": Schema.number("Time its check took, in milliseconds."),
            "detail": Schema.string("What to know, in words."),
            "circuit_breaker": Schema.string("closed, open or half_open, for dependencies behind a breaker."),
            "facts": Schema.map(Schema.string("A figure."), "Further figures by name."),
        ], required: ["status", "detail", "facts"], additional: true), "One entry per dependency, by name."),
        "process": Schema.object([
            "resident_bytes": Schema.integer("Resident memory."),
            "peak_resident_bytes": Schema.integer("Peak resident memory."),
            "cpu_seconds": Schema.number("User plus system CPU time."),
            "open_file_descriptors": Schema.integer("Open file descriptors."),
            "vector_bytes": Schema.integer("Memory held by the vectors, in memory and mapped."),
            "vector_mapped_bytes": Schema.integer("Of vector_bytes, the mapped snapshot file, shared between processes."),
            "cache_bytes": Schema.integer("Memory held by cached results."),
        ], additional: true),
        "ready": Schema.boolean("Whether queries can be answered now (the store reads, the model is not still loading); absent for liveness."),
        "watched_folders": Schema.array(Schema.object([
            "path": Schema.string("The folder."),
            "label": Schema.string("Its technology label."),
            "state": Schema.string("watching, missing, not watched (with the reason), or who watches it."),
        ], required: ["path", "label", "state"], additional: true),
            "With serve --watch: the folders kept in sync, those that need attention first."),
        "watched_folders_omitted": Schema.integer(
            "Folders not listed in watched_folders, to keep the answer short: watched, when the last one listed is."),
    ], required: ["status", "level", "uptime_s", "version", "duration_ms", "dependencies"], additional: true)

    func call(_ arguments: [String: Value]?, context: ToolContext) async throws -> ToolOutput {
        let arguments = try ToolArguments(arguments, tool: Self.name, allowed: ["level"])
        let level = try arguments.choice("level", default: HealthLevel.readiness)
        return try ToolOutput(await context.knowledgeBase.health(level: level))
    }
}
