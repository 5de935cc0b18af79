import ArgumentParser
import Benchmarks
import Foundation
import KnowledgeBase

/// `mcp-rag bench redis`: what tracking and the Redis result cache add to a query.
struct RedisBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis",
        abstract: "Measure what Redis adds to a query: the tracking overhead and a cache hit's latency.",
        discussion: """
            Runs in a knowledge base of its own (--data-dir to keep or reuse one; an empty one is filled with \
            200 generated notes) against the Redis server of REDIS_URL or --redis-url, under keys of its own \
            that it deletes afterwards.
            """
    )

    @OptionGroup var options: KnowledgeBaseOptions

    @Option(name: .customLong("redis-url"), help: "The Redis server (default: REDIS_URL).")
    var redisURL: String?

    @Option(help: "Queries per measurement.")
    var queries: Int = 400

    @Option(help: "How the measured queries search.")
    var mode: SearchMode = .hybrid

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard (20...100_000).contains(queries) else { throw ValidationError("--queries must be between 20 and 100000.") }
    }

    func run() async throws {
        var (configuration, temporary) = try options.scratchConfiguration(prefix: "mcp-rag-bench")
        defer { if let temporary { try? FileManager.default.removeItem(at: temporary) } }
        if let redisURL {
            do { try configuration.useRedis(url: redisURL) } catch { throw CLIError("--redis-url: \(error)") }
        }
        guard configuration.redis != nil else { throw CLIError("no Redis to measure: set REDIS_URL or give --redis-url") }
        configuration.redisPrefix += "bench-\(UUID().uuidString.prefix(8).lowercased()):"
        configuration.warmTopQueries = 0
        let logger = options.reportLogger()
        let report: RedisQueryBenchmark.Report
        let (benchmark, scratch) = (RedisQueryBenchmark(queries: queries, mode: mode), configuration.dataDirectory)
        do {
            report = try await options.withKnowledgeBase(configuration, logger: logger) {
                try await benchmark.run(on: $0, scratch: scratch, logger: logger)
            }
        } catch let error as InvalidRequest {
            throw CLIError(error.description)
        }
        if json {
            try printJSON(report)
        } else {
            print(Self.table(report))
        }
    }

    static func table(_ r: RedisQueryBenchmark.Report) -> String {
        func row(_ label: String, _ latency: RedisQueryBenchmark.Latency) -> String {
            label.padding(toLength: 34, withPad: " ", startingAt: 0)
                + String(format: "%8.3f %8.3f %8d", latency.p50Ms, latency.p99Ms, latency.samples)
        }
        return [
            "mcp-rag bench redis — \(r.endpoint) (Redis \(r.serverVersion ?? "?")), \(r.mode.rawValue) queries over \(r.chunks) chunks",
            "",
            "                                  p50 ms   p99 ms  samples",
            row("PING round trip", r.roundTrip),
            row("query, not tracked, no cache", r.untracked),
            row("query, tracked, no cache", r.tracked),
            row("cache hit (Redis)", r.redisCacheHit),
            row("cache hit (in-process, for scale)", r.memoryCacheHit),
            "",
            String(format: "tracking adds %.3f ms at p50; %d of %d tracked queries reached Redis",
                   r.trackingOverheadP50Ms, r.trackedWritten, r.trackedSent),
        ].joined(separator: "\n")
    }
}
