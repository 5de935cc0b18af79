@testable import Chroma
import Foundation
@testable import HTTPClient
import Testing

/// The Chroma server `tools/test` starts; tests fail, not skip, without it.
enum ChromaTestServer {
    static var url: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["MCP_RAG_TEST_CHROMA_URL"] else {
                Issue.record("MCP_RAG_TEST_CHROMA_URL is not set: run the suite with tools/test, which starts chroma")
                throw ChromaError.configuration("no test server")
            }
            return url
        }
    }

    /// The same server behind a proxy that wants `MCP_RAG_TEST_CHROMA_TOKEN`.
    static var withToken: (url: String, token: String) {
        get throws {
            let environment = ProcessInfo.processInfo.environment
            guard let url = environment["MCP_RAG_TEST_CHROMA_AUTH_URL"], let token = environment["MCP_RAG_TEST_CHROMA_TOKEN"] else {
                Issue.record("MCP_RAG_TEST_CHROMA_AUTH_URL is not set: run the suite with tools/test")
                throw ChromaError.configuration("no test proxy")
            }
            return (url, token)
        }
    }

    /// A client on a collection no other test uses.
    static func client(collection: String = "test-\(UUID().uuidString.prefix(8).lowercased())") throws -> ChromaClient {
        ChromaClient(configuration: try ChromaConfiguration(url: try url, collection: collection))
    }
}

/// A record whose passage says which record it is.
func record(_ id: String, _ embedding: [Float], source: String, technology: String, ordinal: Int = 0) -> ChromaRecord {
    ChromaRecord(id: id, embedding: embedding, passage: ChromaPassage(
        source: source, heading: "About \(id)", technology: technology, text: "The text of \(id).", ordinal: ordinal,
        contentHash: "hash-of-\(source)", ingestedAt: Date(timeIntervalSince1970: 1_700_000_000.5)))
}

@Suite struct ChromaClientTests {
    /// A unit vector along axis `axis` of a 4-dimensional space, tilted towards axis 0 by `tilt`.
    private func vector(_ axis: Int, tilt: Float = 0) -> [Float] {
        var values: [Float] = [tilt, 0, 0, 0]
        values[axis] += 1
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return values.map { $0 / norm }
    }

    @Test func theServerAnswersWithItsVersion() async throws {
        let client = try ChromaTestServer.client()
        try await client.heartbeat()
        #expect(try await !client.version().isEmpty)
    }

    @Test func upsertQueryFilterDeleteAndCountRoundTrip() async throws {
        let client = try ChromaTestServer.client()
        #expect(try await client.count() == 0)
        try await client.upsert([
            record("a", vector(0), source: "/docs/a.md", technology: "docs"),
            record("b", vector(1, tilt: 0.2), source: "/docs/b.md", technology: "docs"),
            record("c", vector(2, tilt: 0.5), source: "/code/c.swift", technology: "swift"),
            record("d", vector(3), source: "/code/c.swift", technology: "swift"),
        ])
        #expect(try await client.count() == 4)

        // Nearest first, by cosine distance (1 − cosine similarity).
        let hits = try await client.query(vector(0), limit: 3)
        #expect(hits.map(\.id) == ["a", "c", "b"])
        #expect(abs(hits[0].distance) < 1e-4)
        let cosineC = vector(2, tilt: 0.5)[0]
        #expect(abs(hits[1].distance - Double(1 - cosineC)) < 1e-4)

        #expect(try await client.query(vector(0), limit: 4, filter: .technology("swift")).map(\.id) == ["c", "d"])
        #expect(try await client.query(vector(0), limit: 4, filter: .source("/docs/b.md")).map(\.id) == ["b"])
        #expect(try await client.query(vector(0), limit: 4, filter: .all([.technology("swift"), .source("/docs/a.md")])).isEmpty)

        // Writing a record again replaces it.
        try await client.upsert([record("a", vector(3), source: "/docs/a.md", technology: "docs")])
        #expect(try await client.count() == 4)
        #expect(try await client.query(vector(3), limit: 2).map(\.id).sorted() == ["a", "d"])
        let stored = try await client.embeddings(ids: ["a", "missing"])
        #expect(Array(stored.keys) == ["a"])
        #expect(zip(stored["a"]!, vector(3)).allSatisfy { abs($0 - $1) < 1e-6 })

        #expect(try await client.ids(matching: .source("/code/c.swift"), pageSize: 1).sorted() == ["c", "d"])
        try await client.delete(matching: .source("/code/c.swift"))
        #expect(try await client.count() == 2)
        try await client.delete(ids: ["b", "never-there"])
        #expect(try await client.ids(matching: .technology("docs")) == ["a"])
    }

    @Test func searchesAndReadsReturnEachPassageWhole() async throws {
        let client = try ChromaTestServer.client()
        let written = [record("p0", vector(0), source: "/docs/a.md", technology: "React Docs", ordinal: 0),
                       record("p1", vector(1), source: "/docs/a.md", technology: "React Docs", ordinal: 1),
                       record("q0", vector(2), source: "/docs/b.md", technology: "swift", ordinal: 0)]
        try await client.upsert(written)
        let hits = try await client.query(vector(1), limit: 1)
        #expect(hits.map(\.id) == ["p1"])
        #expect(hits.first?.passage == written[1].passage)
        let passages = try await client.passages(matching: .source("/docs/a.md"), pageSize: 1)
        #expect(passages == ["p0": written[0].passage, "p1": written[1].passage])
        #expect(try await client.passages(matching: .sources(["/docs/a.md", "/docs/b.md", "/none.md"])).keys.sorted()
            == ["p0", "p1", "q0"])
    }

    @Test func aRecordWithoutTheWholePassageReadsAsNone() {
        // What an older mcp-rag wrote: the source and label only, no document.
        #expect(ChromaPassage(document: nil, metadata: ["source": "/old.md", "technology": "t"]) == nil)
        let whole = record("p", vector(0), source: "/a.md", technology: "t").passage
        #expect(ChromaPassage(document: whole.text, metadata: whole.metadata) == whole)
        var partial = whole.metadata
        partial["ordinal"] = nil
        #expect(ChromaPassage(document: whole.text, metadata: partial) == nil)
    }

    @Test func theSourcesManifestKeepsOneEntryPerSourceAndAnswersWhatChangedSince() async throws {
        let client = try ChromaTestServer.client()
        let early = Date(timeIntervalSince1970: 1_000), late = Date(timeIntervalSince1970: 2_000)
        let a = ChromaSourceEntry(source: "/docs/a.md", technology: "React Docs", contentHash: "h1", chunkCount: 2,
                                  ingestedAt: early, removed: false, changedAt: early)
        let b = ChromaSourceEntry(source: "/docs/ünï \"b\".md", technology: "swift", contentHash: "h2", chunkCount: 1,
                                  ingestedAt: early, removed: false, changedAt: early)
        try await client.upsertSources([a, b])
        #expect(Set(try await client.sources(changedSince: nil, pageSize: 1).map(\.source)) == [a.source, b.source])
        // A removal replaces the source's entry with a tombstone written later.
        try await client.upsertSources([.removal(of: b.source, at: late)])
        let changed = try await client.sources(changedSince: Date(timeIntervalSince1970: 1_500))
        #expect(changed == [.removal(of: b.source, at: late)])
        #expect(try await client.sources(changedSince: nil).count == 2)
        // The manifest is a collection of its own: the passages collection holds no entry.
        #expect(try await client.count() == 0)
        try await client.deleteCollection()
        #expect(try await client.sources(changedSince: nil).isEmpty, "deleted with the collection, then made again empty")
    }

    @Test func anotherClientOfTheSameCollectionSeesTheSameRecords() async throws {
        let name = "test-\(UUID().uuidString.prefix(8).lowercased())"
        let first = try ChromaTestServer.client(collection: name)
        try await first.upsert([record("shared", vector(1), source: "s", technology: "t")])
        let second = try ChromaTestServer.client(collection: name)
        let firstID = try await first.collection()
        #expect(try await second.collection() == firstID, "found, not created again")
        #expect(try await second.query(vector(1), limit: 1).map(\.id) == ["shared"])
    }

    @Test func hostileTextInIdsAndMetadataIsStoredAsIs() async throws {
        let client = try ChromaTestServer.client()
        let source = "/tmp/ünïcødé \"quoted\" \\ {\"$ne\": 1} 🦆.md"
        try await client.upsert([record("id with spaces/and?query=1", vector(0), source: source, technology: "c++")])
        #expect(try await client.ids(matching: .source(source)) == ["id with spaces/and?query=1"])
        #expect(try await client.ids(matching: .technology("c++")).count == 1)
    }

    @Test(arguments: [ChromaConfiguration.AuthHeader.chromaToken, .authorization])
    func theRightTokenIsLetThroughInEitherHeader(_ header: ChromaConfiguration.AuthHeader) async throws {
        let (url, token) = try ChromaTestServer.withToken
        let client = ChromaClient(configuration: try ChromaConfiguration(
            url: url, token: token, authHeader: header, collection: "test-\(UUID().uuidString.prefix(8).lowercased())"))
        try await client.upsert([record("x", vector(0), source: "s", technology: "t")])
        #expect(try await client.count() == 1)
    }

    @Test(arguments: [nil, "wrong-token"])
    func aMissingOrWrongTokenIsAClearAuthenticationError(_ token: String?) async throws {
        let (url, right) = try ChromaTestServer.withToken
        let client = ChromaClient(configuration: try ChromaConfiguration(url: url, token: token))
        let error = try await #require(throws: ChromaError.self) { try await client.collection() }
        #expect(error.kind == .authentication && error.countsAsOutage && !error.isTransient)
        #expect(error.description.contains("refused the token") && error.description.contains("CHROMA_TOKEN"))
        #expect(!error.description.contains(right) && !error.description.contains("wrong-token"))
    }

    @Test func anUnreachableServerIsATransientConnectionError() async throws {
        let client = ChromaClient(configuration: try ChromaConfiguration(url: "http://127.0.0.1:1", connectTimeout: .seconds(1)))
        let error = try await #require(throws: ChromaError.self) { try await client.heartbeat() }
        #expect(error.kind == .connection && error.isTransient && error.countsAsOutage)
        #expect(error.description.contains("127.0.0.1:1"))
    }

    @Test func aChromaThatStopsAnsweringFailsReadsWithinTheReadTimeout() async throws {
        try await withSilentServer { port in
            let client = ChromaClient(configuration: try ChromaConfiguration(
                url: "http://127.0.0.1:\(port)", requestTimeout: .seconds(600), readTimeout: .milliseconds(300)))
            let heartbeat = try await #require(throws: ChromaError.self) { try await client.heartbeat() }
            #expect(heartbeat.kind == .timeout && heartbeat.isTransient)
            let search = try await #require(throws: ChromaError.self) { _ = try await client.query(vector(0), limit: 3) }
            #expect(search.kind == .timeout)
        }
    }

    @Test(arguments: ["localhost:8000", "ftp://host", "http://user:pw@host:8000", "http://host:8000/api/v2", "http://host?x=1", "http://"])
    func aURLThatCannotBeUsedIsAConfigurationError(_ url: String) {
        #expect(throws: ChromaError.self) { try ChromaConfiguration(url: url) }
    }

    @Test func eachModelHasCollectionsOfItsOwn() throws {
        let base = try ChromaConfiguration(url: "http://h:1", collection: "docs")
        #expect(base.name(of: .passages) == "docs")
        let held = try base.holding(model: "0123456789abcdef")
        #expect(held.name(of: .passages) == "docs-0123456789abcdef")
        #expect(held.name(of: .sources) == "docs-0123456789abcdef-sources")
        #expect(held.description.contains("docs-0123456789abcdef"))
        for bad in ["../x/0123456789a", "abc", "0123456789abcdef0", "-123456789abcdef"] {
            #expect(throws: ChromaError.self) { try base.holding(model: bad) }
        }
        // The longest base leaves room for the model and the sources manifest.
        let longest = try ChromaConfiguration(url: "http://h:1", collection: String(repeating: "a", count: 487))
        #expect(ChromaConfiguration.isValidName(try longest.holding(model: "0123456789abcdef").name(of: .sources)))
        #expect(throws: ChromaError.self) { try ChromaConfiguration(url: "http://h:1", collection: String(repeating: "a", count: 488)) }
    }

    @Test func aCollectionKeepsTheWeightsOfItsModelAndRefusesOthers() async throws {
        let base = try ChromaConfiguration(url: try ChromaTestServer.url, collection: "test-\(UUID().uuidString.prefix(8).lowercased())")
        let model = "0123456789abcdef"
        // Made before the weights were recorded: the first client that knows them records them,
        // and keeps the model's own record.
        let older = ChromaClient(configuration: try base.holding(model: model))
        try await older.upsert([record("a", vector(0), source: "/a.md", technology: "docs")])
        let first = ChromaClient(configuration: try base.holding(model: model, weights: "1111111111111111"))
        #expect(try await first.count() == 1)
        let tuned = ChromaClient(configuration: try base.holding(model: model, weights: "2222222222222222"))
        let refusal = try await #require(throws: ChromaError.self) { _ = try await tuned.count() }
        #expect(refusal.kind == .badRequest && refusal.message.contains("other weights"), "\(refusal)")
        // Another client of the same model and weights reads on (test_chroma checks the metadata).
        let another = ChromaClient(configuration: try base.holding(model: model, weights: "1111111111111111"))
        #expect(try await another.count() == 1)
        try await first.deleteCollection()
    }

    @Test func namesFollowChromasRulesAndTheTokenIsNeverShown() async throws {
        for bad in ["ab", "-starts-with-dash", "has space", "ends.", String(repeating: "a", count: 513), "slash/name"] {
            #expect(throws: ChromaError.self) { try ChromaConfiguration(url: "http://h:1", collection: bad) }
        }
        let configured = try ChromaConfiguration(url: "https://chroma.example:8443/", token: "s3cret-token",
                                                 authHeader: .authorization, collection: "my_docs.v2")
        #expect(configured.baseURL == "https://chroma.example:8443")
        #expect(configured.authHeaders.map(\.name) == ["Authorization"])
        #expect(configured.authHeaders.first?.value == "Bearer s3cret-token")
        #expect(!configured.description.contains("s3cret"))
        #expect(try ChromaConfiguration(url: "http://h:1", token: "t").authHeaders.map(\.name) == ["x-chroma-token"])
    }
}

/// The port of a listening socket that accepts nothing: the kernel completes the handshake, no
/// answer follows. Open until `body` returns.
func withSilentServer<Result>(_ body: (Int) async throws -> Result) async throws -> Result {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(listener) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    try withUnsafeMutablePointer(to: &address) { pointer in
        try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            try #require(bind(listener, raw, length) == 0)
            try #require(listen(listener, 4) == 0)
            try #require(getsockname(listener, raw, &length) == 0)
        }
    }
    return try await body(Int(UInt16(bigEndian: address.sin_port)))
}

@Suite struct HTTPConnectionTests {
    @Test func aServerThatNeverAnswersTimesOut() async throws {
        try await withSilentServer { port in
            let connection = try HTTPConnection(connectTimeout: .seconds(1), totalTimeout: .milliseconds(300))
            let error = try #require(throws: HTTPError.self) {
                try connection.send(HTTPRequest(method: .get, url: "http://127.0.0.1:\(port)/api/v2/heartbeat?secret=x"))
            }
            #expect(error.kind == .timeout && error.isTransient)
            #expect(error.description.contains("127.0.0.1:\(port)") && !error.description.contains("secret"))
        }
    }

    @Test func aRequestsOwnTimeoutOverridesTheConnections() async throws {
        try await withSilentServer { port in
            // Were the connection's ten minutes used, this test would not finish.
            let connection = try HTTPConnection(connectTimeout: .seconds(1), totalTimeout: .seconds(600))
            let error = try #require(throws: HTTPError.self) {
                try connection.send(HTTPRequest(method: .get, url: "http://127.0.0.1:\(port)/", timeout: .milliseconds(300)))
            }
            #expect(error.kind == .timeout)
        }
    }

    @Test func anAnswerOverTheLimitIsRefused() throws {
        let connection = try HTTPConnection(connectTimeout: .seconds(2), totalTimeout: .seconds(10), maxResponseBytes: 16)
        let error = try #require(throws: HTTPError.self) {
            try connection.send(HTTPRequest(method: .get, url: try ChromaTestServer.url + "/openapi.json"))
        }
        #expect(error.kind == .tooLarge)
    }

    @Test func oneConnectionServesManyRequests() throws {
        let connection = try HTTPConnection(connectTimeout: .seconds(2), totalTimeout: .seconds(10))
        for _ in 0..<50 {
            let response = try connection.send(HTTPRequest(method: .get, url: try ChromaTestServer.url + "/api/v2/heartbeat"))
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self).contains("heartbeat"))
        }
        let missing = try connection.send(HTTPRequest(method: .get, url: try ChromaTestServer.url + "/api/v2/tenants/no_such_tenant"))
        #expect(missing.status == 404, "a status is an answer, not an error")
    }
}
