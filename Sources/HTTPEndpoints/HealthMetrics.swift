import KnowledgeBase
import Resilience
import Telemetry

/// Sets the metrics that are read rather than recorded (readiness, each dependency's status, the
/// circuit breakers, the Redis tracker's buffer, Chroma's outbox, the watched folders' changes, the
/// embedding backend, the process's memory and CPU) from a readiness report, before each exposition.
///
/// An actor: two scrapes at once must not both add the same growth to a total.
actor HealthMetrics {
    private let exposition: MetricsExposition
    /// The last reading of each total, so a counter grows by what the reading grew by.
    private var lastTotals: [String: Double] = [:]
    /// Every backend seen, so the one no longer serving reads 0.
    private var backends: Set<String> = []

    init(exposition: MetricsExposition) {
        self.exposition = exposition
    }

    func update(from report: HealthReport) {
        exposition.gauge(MetricCatalog.ready).set(to: report.ready == true ? 1 : 0)
        let statuses: [HealthStatus] = [.healthy, .degraded, .unhealthy, .notConfigured]
        let breakerStates: [CircuitBreaker.State] = [.closed, .halfOpen, .open]
        for (name, dependency) in report.dependencies {
            for status in statuses {
                exposition.gauge(MetricCatalog.dependencyStatus, labels: [("dependency", name), ("status", status.rawValue)])
                    .set(to: dependency.status == status ? 1 : 0)
            }
            if let state = dependency.circuitBreaker.flatMap(CircuitBreaker.State.init(rawValue:)) {
                for candidate in breakerStates {
                    exposition.gauge(MetricCatalog.breakerState, labels: [("dependency", name), ("state", candidate.rawValue)])
                        .set(to: state == candidate ? 1 : 0)
                }
            }
            for (fact, state) in [("breaker_opened", CircuitBreaker.State.open), ("breaker_half_opened", .halfOpen),
                                  ("breaker_closed", .closed)] {
                if let times = dependency.facts[fact].flatMap(Double.init) {
                    grow(MetricCatalog.breakerTransitions, labels: [("dependency", name), ("to", state.rawValue)], to: times)
                }
            }
        }
        // The figures a dependency reports only with Redis (the tracker's buffer) or Chroma (the outbox).
        if let tracker = report.dependencies["query_tracker"]?.facts {
            if let buffered = tracker["pending"].flatMap(Double.init) { exposition.gauge(MetricCatalog.trackerBuffered).set(to: buffered) }
            if let dropped = tracker["dropped"].flatMap(Double.init) { grow(MetricCatalog.trackerDropped, labels: [], to: dropped) }
        }
        if let vectors = report.dependencies["vector_store"]?.facts, vectors["backend"] == "chroma",
           let pending = vectors["pending"].flatMap(Double.init) {
            exposition.gauge(MetricCatalog.outboxPending).set(to: pending)
        }
        // With `--watch`, from the process that watches.
        if let watch = report.dependencies["folder_watch"]?.facts, watch["watching"] == "yes" {
            if let pending = watch["pending"].flatMap(Double.init) { exposition.gauge(MetricCatalog.watchPending).set(to: pending) }
            if let syncs = watch["syncs"].flatMap(Double.init) { grow(MetricCatalog.watchBatches, labels: [], to: syncs) }
            if let overflows = watch["event_overflows"].flatMap(Double.init) {
                grow(MetricCatalog.watchOverflows, labels: [], to: overflows)
            }
        }
        if let backend = report.dependencies["embedding_model"]?.facts["backend"] {
            backends.insert(backend)
            for seen in backends {
                exposition.gauge(MetricCatalog.embeddingBackend, labels: [("backend", seen)]).set(to: seen == backend ? 1 : 0)
            }
        }
        if let process = report.process {
            exposition.gauge(MetricCatalog.residentMemory).set(to: Double(process.residentBytes))
            exposition.gauge(MetricCatalog.openFileDescriptors).set(to: Double(process.openFileDescriptors))
            exposition.gauge(MetricCatalog.vectorBytes).set(to: Double(process.vectorBytes))
            grow(MetricCatalog.cpuSeconds, labels: [], to: process.cpuSeconds)
        }
    }

    /// Adds to the counter `metric` what its reading grew by since the last one.
    private func grow(_ metric: MetricCatalog, labels: [(String, String)], to reading: Double) {
        let key = metric.name + labels.map { "\u{1F}\($0.0)=\($0.1)" }.joined()
        let growth = reading - (lastTotals[key] ?? 0)
        lastTotals[key] = reading
        let counter = exposition.counter(metric, labels: labels)
        if growth > 0 { counter.increment(by: growth) }
    }
}
