import Foundation
@testable import KnowledgeBase
import Redis
import Storage
import Testing

@Suite struct ConfigurationTests {
    @Test func environmentOverridesDefaults() throws {
        let configuration = try KnowledgeBaseConfiguration.fromEnvironment([
            "MCP_RAG_DATA_DIR": "/srv/rag", "MCP_RAG_ALLOWED_ROOTS": "/a:/b", "MCP_RAG_CACHE_TTL": "0",
            "MCP_RAG_THREADS": "3", "MCP_RAG_WARM_TOP": "7", "MCP_RAG_BLOCKING_THREADS": "5",
        ])
        #expect(configuration.dataDirectory.path == "/srv/rag")
        #expect(configuration.databasePath == "/srv/rag/knowledge.sqlite3")
        #expect(configuration.allowedRoots.map(\.path) == ["/a", "/b"])
        #expect(configuration.cacheTimeToLive == 0)
        #expect(configuration.embeddingThreads == 3)
        #expect(configuration.warmTopQueries == 7)
        #expect(configuration.blockingThreads == 5)
    }

    @Test func embeddingsAPISettingsComeFromTheEnvironment() throws {
        #expect(try KnowledgeBaseConfiguration.fromEnvironment(["HOME": "/home/u"]).embeddingsAPI == nil)
        let configured = try KnowledgeBaseConfiguration.fromEnvironment([
            "HOME": "/home/u", "MCP_RAG_EMBEDDINGS_URL": "http://localhost:11434", "MCP_RAG_EMBEDDINGS_MODEL": "nomic-embed-text",
            "MCP_RAG_EMBEDDINGS_KEY": "sk-1", "MCP_RAG_EMBEDDINGS_QUERY_PREFIX": "search_query: ",
            "MCP_RAG_EMBEDDINGS_PASSAGE_PREFIX": "search_document: ", "MCP_RAG_EMBEDDINGS_INPUT_TYPE": "yes",
            "MCP_RAG_EMBEDDINGS_BATCH": "8", "MCP_RAG_EMBEDDINGS_TIMEOUT_MS": "1500",
        ])
        let api = try #require(configured.embeddingsAPI)
        // A line break copied with the key (an env file with CRLF endings) is not part of it.
        let crlf = try KnowledgeBaseConfiguration.fromEnvironment([
            "HOME": "/home/u", "MCP_RAG_EMBEDDINGS_URL": "http://h", "MCP_RAG_EMBEDDINGS_MODEL": "m", "MCP_RAG_EMBEDDINGS_KEY": "sk-2\r\n",
        ])
        #expect(crlf.embeddingsAPI?.key == "sk-2")
        #expect(api.endpoint == "http://localhost:11434/v1/embeddings" && api.model == "nomic-embed-text" && api.key == "sk-1")
        // The prefixes keep their trailing space.
        #expect(api.queryPrefix == "search_query: " && api.passagePrefix == "search_document: ")
        #expect(api.sendsInputType && api.batchSize == 8 && api.requestTimeout == .milliseconds(1500))
        for (environment, phrase) in [
            (["MCP_RAG_EMBEDDINGS_MODEL": "m"], "MCP_RAG_EMBEDDINGS_URL is not"),
            (["MCP_RAG_EMBEDDINGS_URL": "http://h"], "needs MCP_RAG_EMBEDDINGS_MODEL"),
            (["MCP_RAG_EMBEDDINGS_URL": "http://h", "MCP_RAG_EMBEDDINGS_MODEL": "m", "MCP_RAG_EMBEDDINGS_BATCH": "0"],
             "MCP_RAG_EMBEDDINGS_BATCH=0"),
            (["MCP_RAG_EMBEDDINGS_URL": "http://h", "MCP_RAG_EMBEDDINGS_MODEL": "m", "MCP_RAG_EMBEDDINGS_KEY": "sk-1\rX"],
             "control characters"),
        ] {
            #expect {
                try KnowledgeBaseConfiguration.fromEnvironment(environment.merging(["HOME": "/home/u"]) { $1 })
            } throws: { ($0 as? ConfigurationError)?.description.contains(phrase) == true }
        }
    }

    @Test func defaultsAllowNothingAndCache() throws {
        let configuration = try KnowledgeBaseConfiguration.fromEnvironment(["HOME": "/home/u"])
        #expect(configuration.dataDirectory.path == "/home/u/.local/share/mcp-rag")
        #expect(configuration.allowedRoots.isEmpty)
        #expect(configuration.cacheTimeToLive > 0)
    }

    @Test func redisSettingsComeFromTheEnvironment() throws {
        let plain = try KnowledgeBaseConfiguration.fromEnvironment(["HOME": "/home/u"])
        #expect(plain.redis == nil)
        #expect(plain.redisPrefix == "mcp-rag:")
        #expect(plain.breakerFailureThreshold == 5 && plain.breakerOpenDuration == .seconds(60))
        let configured = try KnowledgeBaseConfiguration.fromEnvironment([
            "REDIS_URL": "redis://:s3cret@cache.internal:6380/2", "MCP_RAG_REDIS_PREFIX": "team-a:",
            "MCP_RAG_REDIS_TIMEOUT_MS": "250", "MCP_RAG_BREAKER_FAILURES": "2", "MCP_RAG_BREAKER_OPEN_SECONDS": "5",
        ])
        #expect(configured.redis == RedisEndpoint(address: .tcp(host: "cache.internal", port: 6380), password: "s3cret", database: 2))
        #expect(configured.redisPrefix == "team-a:")
        #expect(configured.redisTimeout == .milliseconds(250))
        #expect(configured.breakerFailureThreshold == 2 && configured.breakerOpenDuration == .seconds(5))
    }

    @Test func chromaSettingsComeFromTheEnvironment() throws {
        #expect(try KnowledgeBaseConfiguration.fromEnvironment(["HOME": "/home/u"]).chroma == nil)
        let configured = try KnowledgeBaseConfiguration.fromEnvironment([
            "CHROMA_URL": "https://chroma.internal:8443", "CHROMA_TOKEN": "t0ken", "CHROMA_AUTH_HEADER": "Authorization",
            "CHROMA_TENANT": "team", "CHROMA_DATABASE": "docs", "CHROMA_COLLECTION": "handbook",
        ])
        let chroma = try #require(configured.chroma)
        #expect(chroma.baseURL == "https://chroma.internal:8443" && chroma.token == "t0ken" && chroma.authHeader == .authorization)
        #expect(chroma.tenant == "team" && chroma.database == "docs" && chroma.collection == "handbook")
        #expect(try KnowledgeBaseConfiguration.fromEnvironment(["CHROMA_URL": "http://h:8000"]).chroma?.collection == "mcp_rag")
    }

    @Test(arguments: [["CHROMA_URL": "chroma:8000"], ["CHROMA_URL": "http://h:8000", "CHROMA_AUTH_HEADER": "cookie"],
                      ["CHROMA_URL": "http://h:8000", "CHROMA_COLLECTION": "no spaces allowed"]])
    func chromaSettingsThatCannotBeUsedAreStartupErrors(_ environment: [String: String]) {
        do {
            _ = try KnowledgeBaseConfiguration.fromEnvironment(environment.merging(["CHROMA_TOKEN": "t0ken"]) { $1 })
            Issue.record("\(environment) was accepted")
        } catch {
            #expect("\(error)".contains("CHROMA_"))
            #expect(!"\(error)".contains("t0ken"))
        }
    }

    @Test(arguments: ["rediss://:s3cret@host:6379", "redis://:s3cret@:6379", "http://:s3cret@host", "redis://:s3cret@host/db"])
    func aRedisURLThatCannotBeServedIsAStartupErrorWithoutThePassword(_ url: String) {
        do {
            _ = try KnowledgeBaseConfiguration.fromEnvironment(["REDIS_URL": url])
            Issue.record("\(url) was accepted")
        } catch {
            #expect("\(error)".contains("REDIS_URL"))
            #expect(!"\(error)".contains("s3cret"))
        }
    }

    @Test(arguments: ["MCP_RAG_CACHE_TTL=-1", "MCP_RAG_THREADS=zero", "MCP_RAG_CACHE_SIZE=0", "MCP_RAG_MAX_FILES=1e9",
                      "MCP_RAG_REDIS_TIMEOUT_MS=0", "MCP_RAG_BREAKER_FAILURES=many", "MCP_RAG_BREAKER_OPEN_SECONDS=-3",
                      "MCP_RAG_REDIS_PREFIX=has space", "MCP_RAG_BLOCKING_THREADS=0", "MCP_RAG_BLOCKING_THREADS=1025",
                      "MCP_RAG_MAX_ANSWER_KB=8", "MCP_RAG_MAX_ANSWER_KB=lots"])
    func malformedValuesAreErrorsNamingTheVariable(_ assignment: String) {
        let parts = assignment.split(separator: "=").map(String.init)
        do {
            _ = try KnowledgeBaseConfiguration.fromEnvironment([parts[0]: parts[1]])
            Issue.record("\(assignment) was accepted")
        } catch {
            #expect("\(error)".contains(parts[0]))
        }
    }

    @Test(arguments: ["", " "])
    func anEmptyDataFolderVariableIsAnErrorNotTheDefault(_ value: String) {
        #expect {
            _ = try KnowledgeBaseConfiguration.fromEnvironment(["MCP_RAG_DATA_DIR": value, "HOME": "/home/u"])
        } throws: { error in
            "\(error)".contains("MCP_RAG_DATA_DIR is set but empty")
        }
    }

    @Test func technologyLabelsAreWhatPeopleWrite() throws {
        #expect(try TechnologyLabel.validate(" c++ ") == "c++")
        #expect(try TechnologyLabel.validate("postgres-16.2_x#") == "postgres-16.2_x#")
        #expect(try TechnologyLabel.validate("React Docs") == "React Docs")
        #expect(try TechnologyLabel.validate("  React \u{A0}  Docs ") == "React Docs")
        #expect(try TechnologyLabel.validate("Документация по API") == "Документация по API")
        #expect(try TechnologyLabel.validate("日本語ドキュメント") == "日本語ドキュメント")
        #expect(try TechnologyLabel.validate("semi;colon (v2) \"quoted\" 'x' % _") == "semi;colon (v2) \"quoted\" 'x' % _")
        #expect(try TechnologyLabel.validate("می\u{200C}خواهم") == "می\u{200C}خواهم")
        #expect(try TechnologyLabel.validate(String(repeating: "é", count: 64)).unicodeScalars.count == 64)
    }

    @Test(arguments: ["", "   ", "t1\0", "a\tb", "a\nb", "x\u{202E}y", "x\u{200B}y", "x\u{E000}y",
                      String(repeating: "a", count: 65)])
    func technologyLabelsRefused(_ bad: String) {
        #expect(throws: InvalidRequest.self) { try TechnologyLabel.validate(bad) }
    }

    @Test func labelFiltersMatchIgnoringCase() {
        #expect(TechnologyLabel.matches("React Docs", filter: "react docs"))
        #expect(TechnologyLabel.matches("React Docs", filter: "REACT DOCS"))
        #expect(TechnologyLabel.matches("Ärger", filter: "ärger"))
        #expect(TechnologyLabel.matches("caf\u{E9}", filter: "CAFE\u{301}"))
        #expect(!TechnologyLabel.matches("React Docs", filter: "React"))
        #expect(!TechnologyLabel.matches("React Docs", filter: "ReactDocs"))
        #expect(!TechnologyLabel.matches("c++", filter: "c"))
    }

    @Test func aFilterSearchesEveryStoredSpellingAndMergesByScore() async throws {
        let filter = LabelFilter("react docs", known: ["React Docs", "swift", "react docs", "REACT"])
        #expect(filter.labels == ["React Docs", "react docs"])
        let hits: [String: [ScoredChunk]] = [
            "React Docs": [ScoredChunk(id: "a", score: 0.9), ScoredChunk(id: "b", score: 0.5)],
            "react docs": [ScoredChunk(id: "c", score: 0.7), ScoredChunk(id: "d", score: 0.1)],
        ]
        #expect(await filter.search(limit: 3) { hits[$0 ?? ""] ?? [] }.map(\.id) == ["a", "c", "b"])
        let none = LabelFilter("kotlin", known: ["swift"])
        #expect(none.matchesNothing)
        #expect(await none.search(limit: 3) { _ in [ScoredChunk(id: "x", score: 1)] }.isEmpty)
        let unfiltered = LabelFilter(nil, known: [])
        #expect(!unfiltered.matchesNothing)
        #expect(await unfiltered.search(limit: 3) { $0 == nil ? [ScoredChunk(id: "all", score: 1)] : [] }.map(\.id) == ["all"])
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
