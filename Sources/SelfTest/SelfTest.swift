import Dispatch
import Foundation
import KnowledgeBase
import Logging
import MCP
import MCPServer

/// `mcp-rag --selftest`: ingests a small sample and calls every tool through the real server code
/// (the SDK's server and client joined by an in-memory transport), checking each answer.
public struct SelfTest: Sendable {
    /// One line of the report.
    public struct Check: Sendable, Codable {
        public enum Outcome: String, Sendable, Codable {
            case pass, fail
            /// An optional part (Redis, Chroma, a GPU) that is not set up: reported, never a failure.
            case notConfigured = "not_configured"
        }

        public var name: String
        public var outcome: Outcome
        public var detail: String
        public var milliseconds: Double
    }

    /// The whole report.
    public struct Report: Sendable, Codable {
        public var passed: Bool
        public var version: String
        public var dataDirectory: String
        public var checks: [Check]

        enum CodingKeys: String, CodingKey {
            case passed, version
            case dataDirectory = "data_directory"
            case checks
        }
    }

    let configuration: KnowledgeBaseConfiguration
    let logger: Logger

    /// A self-test in `configuration`'s data folder, usually a temporary one. A folder that already
    /// holds a knowledge base works too: the sample gets a label of its own, the checks count
    /// relative to what was there, and the sample is removed at the end (its queries stay in the
    /// statistics). The allowed roots are replaced by the sample's folder inside the data folder.
    public init(configuration: KnowledgeBaseConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs every check; never throws for a failing check (that is a line of the report).
    public func run() async -> Report {
        var checks = SelfTestChecks()
        let sampleFolder = configuration.dataDirectory.appendingPathComponent("selftest-sample")
        var configuration = self.configuration
        configuration.allowedRoots = [sampleFolder]
        configuration.warmTopQueries = 0
        if configuration.redis != nil {
            // The configured Redis is checked for real, under keys of this run's own that expire
            // within the hour, so the user's statistics and cache are left alone.
            configuration.redisPrefix += "selftest-\(UUID().uuidString.prefix(8).lowercased()):"
            configuration.trackingRetention = 3_600
            configuration.cacheTimeToLive = min(configuration.cacheTimeToLive, 3_600)
        }
        // Likewise Chroma: a collection of this run's own, deleted at the end.
        configuration.chroma?.collection = "selftest-\(UUID().uuidString.prefix(8).lowercased())"

        await checks.run("sample written") {
            try FileManager.default.createDirectory(at: sampleFolder, withIntermediateDirectories: true)
            for document in SelfTestSample.documents {
                try document.text.write(to: sampleFolder.appendingPathComponent(document.name), atomically: true, encoding: .utf8)
            }
            return "\(SelfTestSample.documents.count) documents in \(sampleFolder.path)"
        }
        let (logger, opening) = (self.logger, DispatchTime.now().uptimeNanoseconds)
        do {
            checks = try await KnowledgeBase.withRunning(configuration: configuration, logger: logger) { [checks, configuration] knowledgeBase in
                var checks = checks
                checks.record("knowledge base opened", .pass, "SQLite at \(configuration.databasePath)", since: opening)
                await Self.exercise(knowledgeBase, sampleFolder: sampleFolder, logger: logger, checks: &checks)
                return checks
            }
        } catch {
            checks.record("knowledge base opened", .fail, "\(error)", since: opening)
        }
        return checks.report(dataDirectory: configuration.dataDirectory)
    }

    /// The checks that need the open knowledge base: every tool through an MCP session, then the
    /// shared engines (cleaned of what the checks left) and the accelerator's choice.
    private static func exercise(_ knowledgeBase: KnowledgeBase, sampleFolder: URL, logger: Logger,
                                 checks: inout SelfTestChecks) async {
        await checks.run("embedding model loaded") {
            let model = try await knowledgeBase.model()
            return "\(model.name), \(model.dimension) dimensions, \(model.backend), " + String(format: "%.0f ms", model.loadMilliseconds)
        }
        let session = SelfTestSession(server: MCPRagServer(knowledgeBase: knowledgeBase, logger: logger))
        await session.exercise(&checks, sampleFolder: sampleFolder)
        await session.close()
        // The knowledge base no longer lists the sample; its files go too.
        try? FileManager.default.removeItem(at: sampleFolder)
        let configuration = knowledgeBase.configuration
        let deletions = await knowledgeBase.deleteSharedData()
        if configuration.redis != nil, let redis = deletions.first(where: { $0.engine == "redis" }) {
            await checks.run("redis") {
                if let error = redis.error { throw SelfTestFailure(error) }
                return "\(redis.endpoint) answers (Redis \(redis.version ?? "of unknown version"), "
                    + String(format: "%.1f ms", redis.latencyMs ?? 0)
                    + "); the tools above tracked and cached through it, \(redis.deleted) removed after"
            }
        } else {
            checks.notConfigured("redis", "REDIS_URL is not set: query statistics and the result cache stay in this process")
        }
        if configuration.chroma != nil, let chroma = deletions.first(where: { $0.engine == "chroma" }) {
            await checks.run("chroma") {
                if let error = chroma.error { throw SelfTestFailure(error) }
                return "\(chroma.endpoint) answers (Chroma \(chroma.version ?? "?"), "
                    + String(format: "%.1f ms", chroma.latencyMs ?? 0) + "); the searches above ran in \(chroma.deleted), deleted after"
            }
        } else {
            checks.notConfigured("chroma", "CHROMA_URL is not set: vectors stay in the embedded SQLite store")
        }
        // The report waits for the accelerator's choice (with a GPU it compiles and benchmarks,
        // which takes seconds).
        do {
            let report = try await knowledgeBase.accelerationReport(runBenchmark: false)
            if let error = report.error {
                await checks.run("gpu") { throw SelfTestFailure(error) }
            } else if report.selectedBackend != "cpu" {
                await checks.run("gpu") { report.detail }
            } else {
                checks.notConfigured("gpu", report.detail)
            }
        } catch {
            // Without a model there is nothing to accelerate; the model's check has failed already.
            checks.notConfigured("gpu", "not checked: \(ClientError(error).message)")
        }
    }

    public static func text(_ report: Report) -> String {
        var lines = ["mcp-rag \(report.version) self-test (data in \(report.dataDirectory))", ""]
        for check in report.checks {
            let mark = switch check.outcome {
            case .pass: "PASS"
            case .fail: "FAIL"
            case .notConfigured: "----"
            }
            let time = check.milliseconds > 0 ? String(format: " (%.1f ms)", check.milliseconds) : ""
            lines.append("\(mark)  \(check.name.padding(toLength: 34, withPad: " ", startingAt: 0)) \(check.detail)\(time)")
        }
        let failed = report.checks.filter { $0.outcome == .fail }.count
        lines.append("")
        lines.append(report.passed ? "All required checks passed." : "\(failed) required check(s) failed.")
        return lines.joined(separator: "\n")
    }
}

/// Collects check results, timing each.
struct SelfTestChecks {
    private(set) var checks: [SelfTest.Check] = []

    mutating func run(_ name: String, _ body: () async throws -> String) async {
        _ = await value(name) { ((), try await body()) }
    }

    mutating func value<T>(_ name: String, _ body: () async throws -> (T, String)) async -> T? {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let (value, detail) = try await body()
            checks.append(.init(name: name, outcome: .pass, detail: detail, milliseconds: Self.since(start)))
            return value
        } catch {
            checks.append(.init(name: name, outcome: .fail, detail: "\(error)", milliseconds: Self.since(start)))
            return nil
        }
    }

    mutating func record(_ name: String, _ outcome: SelfTest.Check.Outcome, _ detail: String, since start: UInt64) {
        checks.append(.init(name: name, outcome: outcome, detail: detail, milliseconds: Self.since(start)))
    }

    mutating func notConfigured(_ name: String, _ detail: String) {
        checks.append(.init(name: name, outcome: .notConfigured, detail: detail, milliseconds: 0))
    }

    func report(dataDirectory: URL) -> SelfTest.Report {
        SelfTest.Report(passed: !checks.contains { $0.outcome == .fail }, version: MCPRagVersion.current,
                        dataDirectory: dataDirectory.path, checks: checks)
    }

    private static func since(_ start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }
}

/// A failed expectation inside a self-test check.
struct SelfTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
