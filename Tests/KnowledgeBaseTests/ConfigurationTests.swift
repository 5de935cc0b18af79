import Foundation
@testable import KnowledgeBase
import Testing

@Suite struct ConfigurationTests {
    @Test func environmentOverridesDefaults() throws {
        let configuration = try KnowledgeBaseConfiguration.fromEnvironment([
            "MCP_RAG_DATA_DIR": "/srv/rag", "MCP_RAG_ALLOWED_ROOTS": "/a:/b", "MCP_RAG_CACHE_TTL": "0",
            "MCP_RAG_THREADS": "3", "MCP_RAG_WARM_TOP": "7",
        ])
        #expect(configuration.dataDirectory.path == "/srv/rag")
        #expect(configuration.databasePath == "/srv/rag/knowledge.sqlite3")
        #expect(configuration.allowedRoots.map(\.path) == ["/a", "/b"])
        #expect(configuration.cacheTimeToLive == 0)
        #expect(configuration.embeddingThreads == 3)
        #expect(configuration.warmTopQueries == 7)
    }

    @Test func defaultsAllowNothingAndCache() throws {
        let configuration = try KnowledgeBaseConfiguration.fromEnvironment(["HOME": "/home/u"])
        #expect(configuration.dataDirectory.path == "/home/u/.local/share/mcp-rag")
        #expect(configuration.allowedRoots.isEmpty)
        #expect(configuration.cacheTimeToLive > 0)
    }

    @Test(arguments: ["MCP_RAG_CACHE_TTL=-1", "MCP_RAG_THREADS=zero", "MCP_RAG_CACHE_SIZE=0", "MCP_RAG_MAX_FILES=1e9"])
    func malformedValuesAreErrorsNamingTheVariable(_ assignment: String) {
        let parts = assignment.split(separator: "=").map(String.init)
        do {
            _ = try KnowledgeBaseConfiguration.fromEnvironment([parts[0]: parts[1]])
            Issue.record("\(assignment) was accepted")
        } catch {
            #expect("\(error)".contains(parts[0]))
        }
    }

    @Test func technologyLabels() throws {
        #expect(try TechnologyLabel.validate(" c++ ") == "c++")
        #expect(try TechnologyLabel.validate("postgres-16.2_x#") == "postgres-16.2_x#")
        for bad in ["", "   ", "has space", "semi;colon", String(repeating: "a", count: 65)] {
            #expect(throws: InvalidRequest.self) { try TechnologyLabel.validate(bad) }
        }
    }

    @Test func queryValidation() throws {
        let ok = try QueryService.validate(QueryRequest(query: "  hello  ", technology: "  "))
        #expect(ok.query == "hello")
        #expect(ok.technology == nil)
        for bad in [QueryRequest(query: " "), QueryRequest(query: "x", limit: 0), QueryRequest(query: "x", limit: 51),
                    QueryRequest(query: String(repeating: "x", count: 4097))] {
            #expect(throws: InvalidRequest.self) { try QueryService.validate(bad) }
        }
    }
}

@Suite struct HealthStatusTests {
    @Test func overallIsTheWorstConfiguredPart() {
        #expect(HealthStatus.overall([.notConfigured, .healthy, .notConfigured]) == .healthy)
        #expect(HealthStatus.overall([.notConfigured]) == .healthy)
        #expect(HealthStatus.overall([.healthy, .degraded, .notConfigured]) == .degraded)
        #expect(HealthStatus.overall([.degraded, .unhealthy, .healthy]) == .unhealthy)
    }
}
