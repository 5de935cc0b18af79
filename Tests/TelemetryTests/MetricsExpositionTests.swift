@testable import HTTPEndpoints
@testable import KnowledgeBase
import Telemetry
import Testing

@Suite struct MetricsExpositionTests {
    /// The exposition's lines for `name` (its samples, not its HELP and TYPE lines).
    private func samples(_ exposition: MetricsExposition, _ name: String) -> [String] {
        String(decoding: exposition.text(), as: UTF8.self).split(separator: "\n").map(String.init)
            .filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
    }

    @Test func recordedValuesAppearWithTheirHelpAndType() {
        let exposition = MetricsExposition()
        let metrics = exposition.metrics
        metrics.toolCall("query_knowledge_base", outcome: .ok, nanoseconds: 3_000_000)
        metrics.toolCall("query_knowledge_base", outcome: .ok, nanoseconds: 4_000_000)
        metrics.toolCall("ingest_documents", outcome: .error, nanoseconds: 1_000)
        metrics.query(mode: "hybrid", nanoseconds: 7_000_000, cacheHit: false)
        metrics.query(mode: "hybrid", nanoseconds: 100_000, cacheHit: true)
        metrics.queryStage("embedding", nanoseconds: 4_000_000)
        metrics.queryStage("fusion", nanoseconds: 8_000)
        metrics.queryStage("fusion", nanoseconds: 30_000)
        metrics.ingested(files: 3, passages: 12)
        let text = String(decoding: exposition.text(), as: UTF8.self)
        for metric in [MetricCatalog.toolCalls, .toolCallDuration, .queryDuration, .queryStageDuration, .cacheRequests,
                       .ingestedFiles, .ingestedPassages] {
            #expect(text.contains("# HELP \(metric.name) \(metric.help)"), "\(metric.name) has its help text")
        }
        #expect(text.contains("# TYPE mcp_rag_tool_calls_total counter"))
        #expect(text.contains("# TYPE mcp_rag_query_duration_seconds histogram"))
        #expect(samples(exposition, "mcp_rag_tool_calls_total").sorted() == [
            #"mcp_rag_tool_calls_total{tool="ingest_documents",outcome="error"} 1"#,
            #"mcp_rag_tool_calls_total{tool="query_knowledge_base",outcome="ok"} 2"#,
        ])
        #expect(samples(exposition, "mcp_rag_result_cache_requests_total").sorted() == [
            #"mcp_rag_result_cache_requests_total{result="hit"} 1"#, #"mcp_rag_result_cache_requests_total{result="miss"} 1"#,
        ])
        #expect(samples(exposition, "mcp_rag_ingested_passages_total") == ["mcp_rag_ingested_passages_total 12"])
        // Durations in seconds: 7 ms falls in the 10 ms bucket, not the 5 ms one.
        let buckets = samples(exposition, "mcp_rag_query_duration_seconds_bucket")
        #expect(buckets.contains(#"mcp_rag_query_duration_seconds_bucket{mode="hybrid",le="0.005"} 1"#))
        #expect(buckets.contains(#"mcp_rag_query_duration_seconds_bucket{mode="hybrid",le="0.01"} 2"#))
        #expect(samples(exposition, "mcp_rag_query_duration_seconds_count") == [#"mcp_rag_query_duration_seconds_count{mode="hybrid"} 2"#])
        // Stages of microseconds fall in buckets of their own, so their quantiles can be read.
        let stages = samples(exposition, "mcp_rag_query_stage_duration_seconds_bucket").filter { $0.contains("fusion") }
        #expect(stages.prefix(3) == [
            #"mcp_rag_query_stage_duration_seconds_bucket{stage="fusion",le="0.00001"} 1"#,
            #"mcp_rag_query_stage_duration_seconds_bucket{stage="fusion",le="0.000025"} 1"#,
            #"mcp_rag_query_stage_duration_seconds_bucket{stage="fusion",le="0.00005"} 2"#,
        ], "\(stages)")
    }

    @Test func anIngestThatStoredNothingAddsNoSeries() {
        let exposition = MetricsExposition()
        exposition.metrics.ingested(files: 0, passages: 0)
        #expect(samples(exposition, "mcp_rag_ingested_files_total").isEmpty)
    }

    @Test func theDisabledMetricsRecordNowhere() {
        // The no-op handlers: nothing to read back, and nothing may fail.
        RagMetrics.disabled.toolCall("query_knowledge_base", outcome: .ok, nanoseconds: 1)
        RagMetrics.disabled.query(mode: "hybrid", nanoseconds: 1, cacheHit: false)
    }

    private func report(ready: Bool, breaker: String, opened: Int, backend: String, cpu: Double) -> HealthReport {
        var report = HealthReport(status: .healthy, level: .readiness, uptimeS: 1, version: "test", durationMs: 0, dependencies: [
            "query_tracker": DependencyHealth(status: .degraded, detail: "Redis", circuitBreaker: breaker,
                                              facts: ["breaker_opened": String(opened), "breaker_half_opened": String(opened - 1),
                                                      "breaker_closed": String(opened - 1), "pending": String(opened * 10),
                                                      "dropped": String(opened)]),
            "vector_store": DependencyHealth(status: .healthy, detail: "Chroma",
                                             facts: ["backend": "chroma", "pending": String(opened + 1)]),
            "embedding_model": DependencyHealth(status: .healthy, detail: "loaded", facts: ["backend": backend]),
            "folder_watch": DependencyHealth(status: .healthy, detail: "watching", facts: [
                "watching": "yes", "pending": String(opened * 5), "syncs": String(opened * 2), "event_overflows": String(opened - 2),
            ]),
        ], process: ProcessHealth(residentBytes: 1000, peakResidentBytes: 2000, cpuSeconds: cpu, openFileDescriptors: 7,
                                  vectorBytes: 300, vectorMappedBytes: 0, cacheBytes: 0))
        report.ready = ready
        return report
    }

    @Test func readingsFromTheReadinessReportAreSetAtEachScrape() async {
        let exposition = MetricsExposition()
        let health = HealthMetrics(exposition: exposition)
        await health.update(from: report(ready: true, breaker: "open", opened: 2, backend: "cpu", cpu: 1.5))
        #expect(samples(exposition, "mcp_rag_ready") == ["mcp_rag_ready 1.0"])
        #expect(samples(exposition, "mcp_rag_circuit_breaker_state").sorted() == [
            #"mcp_rag_circuit_breaker_state{dependency="query_tracker",state="closed"} 0.0"#,
            #"mcp_rag_circuit_breaker_state{dependency="query_tracker",state="half_open"} 0.0"#,
            #"mcp_rag_circuit_breaker_state{dependency="query_tracker",state="open"} 1.0"#,
        ])
        #expect(samples(exposition, "mcp_rag_dependency_status").contains(
            #"mcp_rag_dependency_status{dependency="query_tracker",status="degraded"} 1.0"#))
        #expect(samples(exposition, "process_open_fds") == ["process_open_fds 7.0"])
        #expect(samples(exposition, "mcp_rag_tracker_buffered_queries") == ["mcp_rag_tracker_buffered_queries 20.0"])
        #expect(samples(exposition, "mcp_rag_vector_outbox_pending") == ["mcp_rag_vector_outbox_pending 3.0"])
        #expect(samples(exposition, "mcp_rag_watch_pending_changes") == ["mcp_rag_watch_pending_changes 10.0"])
        #expect(samples(exposition, "mcp_rag_watch_batches_total") == ["mcp_rag_watch_batches_total 4.0"])

        // Totals grow by what their readings grew by; the backend no longer serving reads 0.
        await health.update(from: report(ready: false, breaker: "closed", opened: 3, backend: "cuda", cpu: 2.0))
        #expect(samples(exposition, "mcp_rag_ready") == ["mcp_rag_ready 0.0"])
        #expect(samples(exposition, "mcp_rag_circuit_breaker_transitions_total").sorted() == [
            #"mcp_rag_circuit_breaker_transitions_total{dependency="query_tracker",to="closed"} 2.0"#,
            #"mcp_rag_circuit_breaker_transitions_total{dependency="query_tracker",to="half_open"} 2.0"#,
            #"mcp_rag_circuit_breaker_transitions_total{dependency="query_tracker",to="open"} 3.0"#,
        ])
        #expect(samples(exposition, "process_cpu_seconds_total") == ["process_cpu_seconds_total 2.0"])
        #expect(samples(exposition, "mcp_rag_tracker_dropped_total") == ["mcp_rag_tracker_dropped_total 3.0"])
        #expect(samples(exposition, "mcp_rag_watch_batches_total") == ["mcp_rag_watch_batches_total 6.0"])
        #expect(samples(exposition, "mcp_rag_watch_event_overflows_total") == ["mcp_rag_watch_event_overflows_total 1.0"])
        #expect(samples(exposition, "mcp_rag_tracker_buffered_queries") == ["mcp_rag_tracker_buffered_queries 30.0"])
        #expect(samples(exposition, "mcp_rag_embedding_backend_info").sorted() == [
            #"mcp_rag_embedding_backend_info{backend="cpu"} 0.0"#, #"mcp_rag_embedding_backend_info{backend="cuda"} 1.0"#,
        ])
    }
}
