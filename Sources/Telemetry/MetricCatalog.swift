/// Every metric mcp-rag exposes: its name, as Prometheus' conventions ask (the `mcp_rag_` prefix
/// for the server's own, `process_` for the standard process metrics, base units, `_total` on
/// counters, `_seconds` on durations), and its help text. Prometheus requires one help text per
/// name, and `promtool check metrics` a non-empty one, so both live here once.
public struct MetricCatalog: Sendable, Hashable {
    public let name: String
    public let help: String

    // Recorded as things happen (`RagMetrics`).
    public static let toolCalls = MetricCatalog(name: "mcp_rag_tool_calls_total", help: "MCP tool calls answered, by tool and outcome (ok, error, cancelled).")
    public static let toolCallDuration = MetricCatalog(name: "mcp_rag_tool_call_duration_seconds", help: "Time from a tool call's arrival to its answer, by tool.")
    public static let queryDuration = MetricCatalog(name: "mcp_rag_query_duration_seconds", help: "Time to answer a query inside the server, by the mode that answered it.")
    public static let queryStageDuration = MetricCatalog(name: "mcp_rag_query_stage_duration_seconds", help: "Time of each stage of a searched query: embedding, keyword, vector, fusion, passages.")
    public static let cacheRequests = MetricCatalog(name: "mcp_rag_result_cache_requests_total", help: "Queries looked up in the result cache, by result (hit, miss).")
    public static let ingestedFiles = MetricCatalog(name: "mcp_rag_ingested_files_total", help: "Files stored by ingests (unchanged files are not counted).")
    public static let ingestedPassages = MetricCatalog(name: "mcp_rag_ingested_passages_total", help: "Passages stored by ingests.")

    // Read from the knowledge base's readiness report at each scrape (`MetricsExposition`).
    public static let ready = MetricCatalog(name: "mcp_rag_ready", help: "1 when the server is ready to answer queries (healthy or degraded), 0 when not.")
    public static let dependencyStatus = MetricCatalog(name: "mcp_rag_dependency_status", help: "1 for each dependency's current status (healthy, degraded, unhealthy, not_configured), 0 for the others.")
    public static let breakerState = MetricCatalog(name: "mcp_rag_circuit_breaker_state", help: "1 for each circuit breaker's current state (closed, half_open, open), 0 for the others.")
    public static let breakerTransitions = MetricCatalog(name: "mcp_rag_circuit_breaker_transitions_total", help: "Times each circuit breaker moved to a state (to: open, half_open, closed) since the server started.")
    public static let embeddingBackend = MetricCatalog(name: "mcp_rag_embedding_backend_info", help: "1 for the embedding backend serving queries (label backend), 0 for one that served earlier in this process.")
    public static let residentMemory = MetricCatalog(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
    public static let cpuSeconds = MetricCatalog(name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.")
    public static let openFileDescriptors = MetricCatalog(name: "process_open_fds", help: "Number of open file descriptors.")
    public static let trackerBuffered = MetricCatalog(name: "mcp_rag_tracker_buffered_queries", help: "Query counts waiting in this process for Redis.")
    public static let trackerDropped = MetricCatalog(name: "mcp_rag_tracker_dropped_total", help: "Query counts dropped because the buffer for Redis was full.")
    public static let outboxPending = MetricCatalog(name: "mcp_rag_vector_outbox_pending", help: "Changes to the vectors waiting to be sent to Chroma.")
    public static let watchPending = MetricCatalog(name: "mcp_rag_watch_pending_changes", help: "Changed paths in the watched folders not yet applied (serve --watch).")
    public static let watchBatches = MetricCatalog(name: "mcp_rag_watch_batches_total", help: "Batches of changes in the watched folders applied (serve --watch).")
    public static let watchOverflows = MetricCatalog(name: "mcp_rag_watch_event_overflows_total", help: "Times the kernel's queue of file events overflowed and the watched folders were read again.")
    public static let vectorBytes = MetricCatalog(name: "mcp_rag_vector_index_bytes", help: "Bytes the vector index takes in memory, its mapped snapshot file included.")
    public static let embeddedTexts = MetricCatalog(name: "mcp_rag_embedded_texts_total", help: "Texts the embedding model has embedded, by work (query, bulk).")
    public static let embeddingSeconds = MetricCatalog(name: "mcp_rag_embedding_seconds_total", help: "Seconds the embedding model has spent embedding, by work (query, bulk); texts over seconds is its measured rate.")
    public static let embeddingPasses = MetricCatalog(name: "mcp_rag_embedding_passes_total", help: "Calls of the embedding model, by work (query, bulk); texts over passes is how many queries shared a pass.")
    public static let httpSessions = MetricCatalog(name: "mcp_rag_http_sessions_open", help: "MCP sessions open over Streamable HTTP.")

    public static let all: [MetricCatalog] = [
        toolCalls, toolCallDuration, queryDuration, queryStageDuration, cacheRequests, ingestedFiles, ingestedPassages,
        ready, dependencyStatus, breakerState, breakerTransitions, embeddingBackend, residentMemory, cpuSeconds,
        openFileDescriptors, trackerBuffered, trackerDropped, outboxPending, watchPending, watchBatches, watchOverflows, vectorBytes, embeddedTexts, embeddingSeconds,
        embeddingPasses, httpSessions,
    ]

    /// The help text of the metric called `name` ("" for a name not listed here).
    public static func help(for name: String) -> String {
        helpByName[name] ?? ""
    }

    /// Looked up each time a metric is recorded while metrics are exposed.
    private static let helpByName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.help) })

    /// The stages `RagMetrics.queryStage` records, by the names the query service times them under.
    public static let stages: [String: String] = [
        "embed": "embedding", "keyword": "keyword", "semantic": "vector", "fusion": "fusion", "resolve": "passages",
    ]
}
