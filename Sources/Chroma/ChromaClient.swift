import Blocking
import Foundation
import HTTPClient
import Redaction
import Storage
import Synchronization

/// Chroma's v2 HTTP API as served by chromadb 1.x, for one collection of our vectors.
///
/// Every call awaits its answer (up to the request timeout); the blocking libcurl transfer runs on
/// a thread of `BlockingExecutor` that the connection pool (libcurl handles, kept alive) reserves.
/// The collection (cosine space, no embedding function: we send our own vectors) is found or created
/// on first use, with its tenant and database.
public final class ChromaClient: Sendable {
    public let configuration: ChromaConfiguration
    private let pool: BlockingPool<HTTPConnection>
    /// The metadata key naming the model whose vectors a collection holds (its fingerprint).
    public static let modelKey = "mcp_rag_model"
    /// The metadata key naming the digest of that model's weights (see `ChromaConfiguration.weights`).
    public static let weightsKey = "mcp_rag_weights"
    /// The ids of the passages collection and of its sources manifest, once found or created.
    private let collectionIDs = Mutex<[ChromaCollection: String]>([:])

    public init(configuration: ChromaConfiguration, connections: Int = 4) {
        self.configuration = configuration
        // Whatever the server or a proxy answers, the token is never quoted back.
        SecretRedactor.register(configuration.secrets)
        pool = BlockingPool(size: connections,
                            patience: configuration.connectTimeout + configuration.requestTimeout,
                            open: {
                                do {
                                    return try HTTPConnection(connectTimeout: configuration.connectTimeout,
                                                              totalTimeout: configuration.requestTimeout,
                                                              verifyTLS: configuration.verifyTLS)
                                } catch {
                                    throw ChromaError(kind: .connection, message: "\(error)")
                                }
                            },
                            isReusable: { _ in true },
                            busy: { ChromaError(kind: .timeout, message: "every connection to \(configuration.baseURL) is busy") })
    }

    // MARK: Server

    /// Nanoseconds since the epoch on the server: it answers.
    public func heartbeat() async throws(ChromaError) {
        _ = try await call(.get, "/api/v2/heartbeat", doing: "checking its heartbeat", timeout: configuration.readTimeout)
    }

    /// The server's version, e.g. "1.0.0".
    public func version() async throws(ChromaError) -> String {
        let answer = try await call(.get, "/api/v2/version", doing: "asking its version", timeout: configuration.readTimeout)
        guard let version = answer as? String else { throw unexpected("the version", answer) }
        // Shown in health_check and the self-test: the server's words, so redacted and kept short.
        return SecretRedactor.redact(bytes: Array(version.utf8), limit: 100)
    }

    // MARK: Collection

    /// The passages collection's id: found, or created with its tenant and database (cosine space).
    @discardableResult
    public func collection() async throws(ChromaError) -> String {
        try await collectionID(.passages)
    }

    /// The id of `collection`: found, or created (with the tenant and database when missing).
    private func collectionID(_ collection: ChromaCollection) async throws(ChromaError) -> String {
        if let id = collectionIDs.withLock({ $0[collection] }) { return id }
        let (tenant, database) = (configuration.tenant, configuration.database)
        let name = configuration.name(of: collection)
        try await ensure("/api/v2/tenants/\(tenant)", create: "/api/v2/tenants", name: tenant, what: "tenant")
        try await ensure("/api/v2/tenants/\(tenant)/databases/\(database)", create: "/api/v2/tenants/\(tenant)/databases",
                   name: database, what: "database")
        var metadata: [String: Any] = [:]
        if let model = configuration.model { metadata[Self.modelKey] = model }
        if let weights = configuration.weights { metadata[Self.weightsKey] = weights }
        var body: [String: Any] = ["name": name, "get_or_create": true, "configuration": ["hnsw": ["space": "cosine"]]]
        if !metadata.isEmpty { body["metadata"] = metadata }
        let answer = try await call(.post, "/api/v2/tenants/\(tenant)/databases/\(database)/collections", body: body,
                                    doing: "opening the collection \(name)", timeout: configuration.readTimeout)
        guard let object = answer as? [String: Any], let id = object["id"] as? String else { throw unexpected("the collection", answer) }
        // The name says which model; the metadata is checked too, so a collection made by hand (or
        // renamed) under this name with another model's vectors is never written to or searched.
        let held = object["metadata"] as? [String: Any] ?? [:]
        if let model = configuration.model, let holds = held[Self.modelKey] as? String, holds != model {
            throw ChromaError(kind: .badRequest, message: """
                the Chroma collection \(name) holds the vectors of the model \(holds), not of \(model) that this \
                knowledge base's vectors come from; remove it or name another base in CHROMA_COLLECTION
                """)
        }
        if let weights = configuration.weights {
            if let holds = held[Self.weightsKey] as? String, holds != weights {
                throw ChromaError(kind: .badRequest, message: """
                    the Chroma collection \(name) holds the vectors of a model with other weights (\(holds), not \(weights)) \
                    though the same fingerprint, a fine-tune of it or its original: use the model that made them, \
                    or name another base in CHROMA_COLLECTION
                    """)
            }
            if held[Self.weightsKey] == nil {
                // A collection older than the digest takes it from the first process that knows it.
                // Chroma replaces the whole metadata, so what it held goes back with it.
                let update: [String: Any] = ["new_metadata": held.merging(metadata) { old, _ in old }]
                _ = try await call(.put, "/api/v2/tenants/\(tenant)/databases/\(database)/collections/\(id)", body: update,
                                   doing: "recording the model's weights on the collection \(name)", timeout: configuration.readTimeout)
            }
        }
        if collection == .passages,
           let space = ((object["configuration_json"] as? [String: Any])?["hnsw"] as? [String: Any])?["space"] as? String,
           space != "cosine" {
            throw ChromaError(kind: .badRequest, message: """
                the Chroma collection \(name) measures \(space) distance, not cosine; \
                name another one in CHROMA_COLLECTION
                """)
        }
        collectionIDs.withLock { $0[collection] = id }
        return id
    }

    /// Gets `path`; when it is not found, creates it by posting `name` to `create`. A creation that
    /// races another process's (and finds it already exists) is fine.
    private func ensure(_ path: String, create: String, name: String, what: String) async throws(ChromaError) {
        do {
            _ = try await call(.get, path, doing: "looking up the \(what) \(name)", timeout: configuration.readTimeout)
        } catch where error.kind == .notFound {
            do {
                _ = try await call(.post, create, body: ["name": name], doing: "creating the \(what) \(name)",
                             timeout: configuration.readTimeout)
            } catch where error.message.contains("already exists") {}
        }
    }

    /// Deletes the whole collection and its sources manifest (the self-test's own, say); missing
    /// ones are not an error.
    public func deleteCollection() async throws(ChromaError) {
        let (tenant, database) = (configuration.tenant, configuration.database)
        for collection in [ChromaCollection.passages, .sources] {
            let name = configuration.name(of: collection)
            do {
                _ = try await call(.delete, "/api/v2/tenants/\(tenant)/databases/\(database)/collections/\(name)",
                                   doing: "deleting the collection \(name)")
            } catch where error.kind == .notFound {}
        }
        collectionIDs.withLock { $0 = [:] }
    }

    /// Records in the collection.
    public func count() async throws(ChromaError) -> Int {
        let answer = try await call(.get, try await collectionPath("count"), doing: "counting records", timeout: configuration.readTimeout)
        guard let count = answer as? Int else { throw unexpected("the count", answer) }
        return count
    }

    // MARK: Records

    /// Adds or replaces `records` (ids are ours, so writing the same record twice changes nothing).
    public func upsert(_ records: [ChromaRecord]) async throws(ChromaError) {
        guard !records.isEmpty else { return }
        let body: [String: Any] = [
            "ids": records.map(\.id),
            "embeddings": records.map { $0.embedding.map(Double.init) },
            "documents": records.map(\.passage.text),
            "metadatas": records.map(\.passage.metadata),
        ]
        _ = try await call(.post, try await collectionPath("upsert"), body: body, doing: "writing \(records.count) passages")
    }

    /// The `limit` records nearest to `embedding` (cosine distance, smallest first) that pass
    /// `filter`, each with its passage.
    public func query(_ embedding: [Float], limit: Int, filter: ChromaFilter? = nil) async throws(ChromaError) -> [ChromaHit] {
        var body: [String: Any] = ["query_embeddings": [embedding.map(Double.init)], "n_results": limit,
                                   "include": ["distances", "documents", "metadatas"]]
        if let filter { body["where"] = filter.json }
        let answer = try await call(.post, try await collectionPath("query"), body: body, doing: "searching",
                              timeout: configuration.readTimeout)
        guard let object = answer as? [String: Any], let ids = (object["ids"] as? [[String]])?.first,
              let distances = (object["distances"] as? [[Any]])?.first, distances.count == ids.count else {
            throw unexpected("the search results", answer)
        }
        let documents = (object["documents"] as? [[Any]])?.first
        let metadatas = (object["metadatas"] as? [[Any]])?.first
        return ids.indices.map { index in
            ChromaHit(id: ids[index], distance: (distances[index] as? Double) ?? .infinity,
                      passage: ChromaPassage(document: documents?[safe: index], metadata: metadatas?[safe: index]))
        }
    }

    /// The passages of the records that pass `filter`, by id, read in pages of `pageSize` (records
    /// without a whole passage are left out).
    public func passages(matching filter: ChromaFilter, pageSize: Int = 500) async throws(ChromaError) -> [String: ChromaPassage] {
        var found: [String: ChromaPassage] = [:]
        try await readPages(["where": filter.json, "include": ["documents", "metadatas"]], pageSize: pageSize,
                            what: "the passages", doing: "reading passages") { page throws(ChromaError) in
            guard let ids = page["ids"] as? [String] else { throw unexpected("the passages", page) }
            let documents = page["documents"] as? [Any]
            let metadatas = page["metadatas"] as? [Any]
            for (index, id) in ids.enumerated() {
                found[id] = ChromaPassage(document: documents?[safe: index], metadata: metadatas?[safe: index])
            }
            return ids.count
        }
        return found
    }

    /// The ids of the records that pass `filter`, in pages of `pageSize`.
    public func ids(matching filter: ChromaFilter, pageSize: Int = 1_000) async throws(ChromaError) -> [String] {
        var found: [String] = []
        try await readPages(["where": filter.json, "include": [String]()], pageSize: pageSize, what: "the records",
                            doing: "listing records") { page throws(ChromaError) in
            guard let ids = page["ids"] as? [String] else { throw unexpected("the records", page) }
            found += ids
            return ids.count
        }
        return found
    }

    /// The stored embeddings of `ids` (those that exist).
    public func embeddings(ids: [String]) async throws(ChromaError) -> [String: [Float]] {
        guard !ids.isEmpty else { return [:] }
        let answer = try await call(.post, try await collectionPath("get"), body: ["ids": ids, "include": ["embeddings"]],
                              doing: "reading vectors")
        guard let object = answer as? [String: Any], let found = object["ids"] as? [String],
              let vectors = object["embeddings"] as? [[Double]], vectors.count == found.count else {
            throw unexpected("the vectors", answer)
        }
        return Dictionary(zip(found, vectors.map { $0.map(Float.init) }), uniquingKeysWith: { first, _ in first })
    }

    /// Deletes the records with these ids (missing ones are ignored).
    public func delete(ids: [String]) async throws(ChromaError) {
        guard !ids.isEmpty else { return }
        _ = try await call(.post, try await collectionPath("delete"), body: ["ids": ids], doing: "deleting \(ids.count) vectors")
    }

    /// Deletes the records that pass `filter`; returns how many, when the server says.
    @discardableResult
    public func delete(matching filter: ChromaFilter) async throws(ChromaError) -> Int? {
        let answer = try await call(.post, try await collectionPath("delete"), body: ["where": filter.json], doing: "deleting vectors")
        return (answer as? [String: Any])?["deleted"] as? Int
    }

    // MARK: Sources manifest

    /// Writes `entries` into the sources manifest, each replacing the entry of its source.
    public func upsertSources(_ entries: [ChromaSourceEntry]) async throws(ChromaError) {
        guard !entries.isEmpty else { return }
        // Chroma keeps a vector with every record; the manifest's is a constant of one value.
        let body: [String: Any] = [
            "ids": entries.map(\.id), "embeddings": entries.map { _ in [1.0] }, "metadatas": entries.map(\.metadata),
        ]
        _ = try await call(.post, try await collectionPath("upsert", in: .sources), body: body,
                           doing: "writing \(entries.count) source entries")
    }

    /// The manifest's entries written at or after `since` (every entry when nil), read in pages of
    /// `pageSize`.
    public func sources(changedSince since: Date?, pageSize: Int = 1_000) async throws(ChromaError) -> [ChromaSourceEntry] {
        var found: [ChromaSourceEntry] = []
        var body: [String: Any] = ["include": ["metadatas"]]
        if let since { body["where"] = ChromaFilter.changedSince(since).json }
        try await readPages(in: .sources, body, pageSize: pageSize, what: "the sources manifest",
                            doing: "reading the sources manifest", timeout: configuration.readTimeout) { page throws(ChromaError) in
            guard let metadatas = page["metadatas"] as? [Any] else { throw unexpected("the sources manifest", page) }
            found += metadatas.compactMap(ChromaSourceEntry.init(metadata:))
            return metadatas.count
        }
        return found
    }

    // MARK: Plumbing

    /// Reads the records of `collection` that a `get` with `body` returns, in pages of `pageSize`:
    /// `page` is given each page's answer and returns how many records it held; a short page is
    /// the last. `what` names the answer in the error when it is not a JSON object.
    private func readPages(in collection: ChromaCollection = .passages, _ body: [String: Any], pageSize: Int,
                           what: String, doing: String, timeout: Duration? = nil,
                           _ page: ([String: Any]) throws(ChromaError) -> Int) async throws(ChromaError) {
        var offset = 0
        while true {
            var request = body
            request["limit"] = pageSize
            request["offset"] = offset
            let answer = try await call(.post, try await collectionPath("get", in: collection), body: request, doing: doing,
                                        timeout: timeout)
            guard let object = answer as? [String: Any] else { throw unexpected(what, answer) }
            let count = try page(object)
            offset += count
            if count < pageSize { return }
        }
    }

    private func collectionPath(_ operation: String, in collection: ChromaCollection = .passages) async throws(ChromaError)
        -> String
    {
        let id = try await collectionID(collection)
        return "/api/v2/tenants/\(configuration.tenant)/databases/\(configuration.database)/collections/\(id)/\(operation)"
    }

    /// Sends one request and returns its JSON answer (`NSNull` for an empty body). `timeout` bounds
    /// the wait for a connection and the request each (nil: the pool's patience and the write timeout).
    private func call(_ method: HTTPRequest.Method, _ path: String, body: [String: Any]? = nil,
                      doing: String, timeout: Duration? = nil) async throws(ChromaError) -> Any {
        var headers = configuration.authHeaders
        var data: Data?
        if let body {
            headers.append(("Content-Type", "application/json"))
            do { data = try JSONSerialization.data(withJSONObject: body) } catch {
                throw ChromaError(kind: .badRequest, message: "a request could not be encoded while \(doing): \(error)")
            }
        }
        let request = HTTPRequest(method: method, url: configuration.baseURL + path, headers: headers, body: data,
                                  timeout: timeout)
        let response: HTTPResponse
        do {
            response = try await pool.run(patience: timeout) { try $0.send(request) }
        } catch let error as HTTPError {
            throw ChromaError(kind: error.kind == .timeout ? .timeout : .connection, message: "Chroma: \(error.message) while \(doing)")
        } catch let error as ChromaError {
            throw error
        } catch {
            throw ChromaError(kind: .connection, message: "Chroma at \(configuration.baseURL): \(error) while \(doing)")
        }
        guard (200..<300).contains(response.status) else {
            throw ChromaError.status(response.status, body: Array(response.body), doing: doing,
                                     server: "Chroma at \(configuration.baseURL)")
        }
        guard !response.body.isEmpty else { return NSNull() }
        do {
            return try JSONSerialization.jsonObject(with: response.body, options: [.fragmentsAllowed])
        } catch {
            throw ChromaError(kind: .unexpectedReply, message: "Chroma at \(configuration.baseURL) answered with something other than JSON while \(doing)")
        }
    }

    private func unexpected(_ what: String, _ answer: Any) -> ChromaError {
        ChromaError(kind: .unexpectedReply, message: """
            Chroma at \(configuration.baseURL) sent \(what) in a shape this client does not know: \
            \(SecretRedactor.redact(bytes: Array(String(describing: answer).utf8), limit: 200))
            """)
    }
}

/// The two collections a knowledge base keeps in Chroma.
public enum ChromaCollection: Sendable, Hashable {
    /// The passages with their vectors: what searches read.
    case passages
    /// One entry per source: what other processes follow (see `ChromaSourceEntry`).
    case sources
}

extension Array {
    subscript(safe index: Int) -> Element? {
        indices.contains(index) ? self[index] : nil
    }
}
