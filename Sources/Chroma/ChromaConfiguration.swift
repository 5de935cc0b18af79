import Foundation

/// Where a Chroma server is and how to talk to it, from `CHROMA_URL` and its companions.
public struct ChromaConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// How the token travels.
    public enum AuthHeader: String, Sendable, Equatable {
        /// `x-chroma-token: TOKEN` (Chroma's own header).
        case chromaToken = "x-chroma-token"
        /// `Authorization: Bearer TOKEN`.
        case authorization
    }

    /// scheme://host:port, without a trailing slash.
    public var baseURL: String
    /// Never printed: `description` leaves it out.
    public var token: String?
    public var authHeader: AuthHeader
    public var tenant: String
    public var database: String
    /// The base of the collections' names (`CHROMA_COLLECTION`); see `name(of:)`.
    public var collection: String
    /// The fingerprint of the embedding model whose vectors the collections hold: each model has its
    /// own (`<collection>-<model>`), so two models' vectors never meet in one. Nil: the base name
    /// alone (a client that writes no vectors, or a knowledge base older than the model's record).
    public var model: String?
    /// The digest of every tensor of that model's weights (`ModelFingerprint.weightsDigest`), kept
    /// in the collections' metadata: a fine-tune that shares the fingerprint never writes to or
    /// searches the model's collections. Nil: not checked (an API's model, an older record).
    public var weights: String?
    public var connectTimeout: Duration
    /// For one write (an upload, a deletion), the answer included.
    public var requestTimeout: Duration
    /// For one read a person is waiting on (a search, a count, a heartbeat, opening the
    /// collection), waiting for a free connection included: a Chroma that has stopped answering
    /// costs a query this long before it falls back to keyword search.
    public var readTimeout: Duration
    /// Off only when the user asks (a self-signed test server); on by default.
    public var verifyTLS: Bool
    /// How often a process asks the sources manifest what other processes changed.
    public var followInterval: Duration

    public init(url: String, token: String? = nil, authHeader: AuthHeader = .chromaToken,
                tenant: String = "default_tenant", database: String = "default_database", collection: String = "mcp_rag",
                connectTimeout: Duration = .seconds(2), requestTimeout: Duration = .seconds(30),
                readTimeout: Duration = .seconds(2), verifyTLS: Bool = true,
                followInterval: Duration = .seconds(1)) throws(ChromaError) {
        let trimmed = url.trimmingCharacters(in: .whitespaces)
        guard let components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty else {
            throw ChromaError.configuration("CHROMA_URL must be an http:// or https:// URL such as http://localhost:8000")
        }
        guard components.user == nil, components.password == nil else {
            throw ChromaError.configuration("CHROMA_URL must not hold a login; give the token in CHROMA_TOKEN")
        }
        guard components.query == nil, components.path.isEmpty || components.path == "/" else {
            throw ChromaError.configuration("CHROMA_URL is the server's address only (no path or query), such as http://localhost:8000")
        }
        for (name, value) in [("CHROMA_TENANT", tenant), ("CHROMA_DATABASE", database), ("CHROMA_COLLECTION", collection)] {
            guard Self.isValidName(value) else {
                throw ChromaError.configuration("\(name)=\(value) is not a valid name: 3–512 letters, digits, '.', '_' or '-', starting and ending with a letter or digit")
            }
        }
        let room = 512 - Self.modelSuffixLength - Self.sourcesSuffix.utf8.count
        guard collection.utf8.count <= room else {
            throw ChromaError.configuration("CHROMA_COLLECTION=\(collection) is too long: at most \(room) characters leave room for the model's name and the sources manifest")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        baseURL = "\(scheme)://\(hostPart)" + (components.port.map { ":\($0)" } ?? "")
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        self.authHeader = authHeader
        self.tenant = tenant
        self.database = database
        self.collection = collection
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.readTimeout = readTimeout
        self.verifyTLS = verifyTLS
        self.followInterval = followInterval
    }

    /// What the sources manifest's name adds to the collection's.
    static let sourcesSuffix = "-sources"
    /// What the model adds to the name: `-` and a fingerprint of 16 hex digits.
    static let modelSuffixLength = 17

    /// This configuration for the collections of the model `fingerprint` (16 hex digits).
    public func holding(model fingerprint: String, weights: String? = nil) throws(ChromaError) -> ChromaConfiguration {
        guard fingerprint.utf8.count == Self.modelSuffixLength - 1, Self.isValidName(fingerprint) else {
            throw ChromaError.configuration("the model's fingerprint \(fingerprint.debugDescription) cannot name a Chroma collection")
        }
        var configuration = self
        configuration.model = fingerprint
        configuration.weights = weights
        return configuration
    }

    /// The name of `collection` in Chroma: the passages collection is `<collection>-<model>`, its
    /// sources manifest the same name followed by `-sources`.
    public func name(of kind: ChromaCollection) -> String {
        let passages = collection + (model.map { "-\($0)" } ?? "")
        switch kind {
        case .passages: return passages
        case .sources: return passages + Self.sourcesSuffix
        }
    }

    /// Chroma's rule for collection names (also applied here to tenants and databases, which keeps
    /// them safe in a URL path without escaping).
    static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...512).contains(bytes.count) else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        guard alphanumeric(bytes.first!), alphanumeric(bytes.last!) else { return false }
        return bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// The header lines every request carries.
    var authHeaders: [(name: String, value: String)] {
        guard let token else { return [] }
        switch authHeader {
        case .chromaToken: return [("x-chroma-token", token)]
        case .authorization: return [("Authorization", "Bearer \(token)")]
        }
    }

    /// What must never be shown: the token, and the header value that carries it.
    public var secrets: [String] {
        guard let token else { return [] }
        return [token] + (authHeader == .authorization ? ["Bearer \(token)"] : [])
    }

    /// The server and collection, without the token.
    public var description: String {
        "\(baseURL) (\(tenant)/\(database)/\(name(of: .passages))\(token == nil ? "" : ", with a token"))"
    }
}
