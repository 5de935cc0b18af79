import CoreMetrics

/// What the server counts and times, recorded through swift-metrics' API: one value shared by the
/// MCP tools and the knowledge base. Which backend receives the values is the factory's choice:
/// `MetricsExposition`'s Prometheus registry when the server exposes metrics, otherwise swift-metrics'
/// no-op handlers, which cost nothing. Every name and its help text is in `MetricCatalog`.
public final class RagMetrics: Sendable {
    /// Records nothing: the default for a server that exposes no metrics, and for tests.
    public static let disabled = RagMetrics(factory: NOOPMetricsHandler.instance)

    private let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// How a tool call ended.
    public enum Outcome: String, Sendable {
        /// Answered with the tool's output.
        case ok
        /// Answered with an error: bad arguments, or a failure the answer explains.
        case error
        /// Cancelled by the client, or stopped at shutdown.
        case cancelled
    }

    /// One call of `tool`, which took `nanoseconds` and ended in `outcome`.
    public func toolCall(_ tool: String, outcome: Outcome, nanoseconds: UInt64) {
        Counter(label: MetricCatalog.toolCalls.name, dimensions: [("tool", tool), ("outcome", outcome.rawValue)],
                factory: factory).increment()
        Timer(label: MetricCatalog.toolCallDuration.name, dimensions: [("tool", tool)], factory: factory)
            .recordNanoseconds(nanoseconds)
    }

    /// One query answered in `mode` (the mode that produced the answer) in `nanoseconds`, from the
    /// result cache or not.
    public func query(mode: String, nanoseconds: UInt64, cacheHit: Bool) {
        Timer(label: MetricCatalog.queryDuration.name, dimensions: [("mode", mode)], factory: factory)
            .recordNanoseconds(nanoseconds)
        Counter(label: MetricCatalog.cacheRequests.name, dimensions: [("result", cacheHit ? "hit" : "miss")],
                factory: factory).increment()
    }

    /// The stages of a query a search answered, in `MetricCatalog.stages`' names.
    public func queryStage(_ stage: String, nanoseconds: UInt64) {
        Timer(label: MetricCatalog.queryStageDuration.name, dimensions: [("stage", stage)], factory: factory)
            .recordNanoseconds(nanoseconds)
    }

    /// An ingest that stored `files` files in `passages` passages (unchanged files not counted).
    public func ingested(files: Int, passages: Int) {
        guard files > 0 || passages > 0 else { return }
        Counter(label: MetricCatalog.ingestedFiles.name, factory: factory).increment(by: files)
        Counter(label: MetricCatalog.ingestedPassages.name, factory: factory).increment(by: passages)
    }

    /// `texts` embedded in one call of the model that took `nanoseconds`, for queries someone waits
    /// for or for bulk work (ingests, warming).
    public func embedded(texts: Int, nanoseconds: UInt64, forQuery: Bool) {
        let work = [("work", forQuery ? "query" : "bulk")]
        Counter(label: MetricCatalog.embeddingPasses.name, dimensions: work, factory: factory).increment()
        Counter(label: MetricCatalog.embeddedTexts.name, dimensions: work, factory: factory).increment(by: texts)
        FloatingPointCounter(label: MetricCatalog.embeddingSeconds.name, dimensions: work, factory: factory)
            .increment(by: Double(nanoseconds) / 1e9)
    }

    /// The MCP sessions open over HTTP now.
    public func sessionsOpen(_ count: Int) {
        Gauge(label: MetricCatalog.httpSessions.name, factory: factory).record(count)
    }
}
