import Foundation
import HTTPClient
import Redaction
import Synchronization

/// A client of an OpenAI-compatible embeddings endpoint: texts in, unit vectors out.
///
/// Blocking: a call waits for its answers (up to the request timeout per batch) on the calling
/// thread, which must be allowed to block (the server's embedding thread). One connection, kept
/// alive; calls from several threads take turns on it.
public final class EmbeddingsAPIClient: Sendable {
    /// What the texts are for, which decides their prefix and `input_type`.
    public enum Purpose: String, Sendable {
        case query
        case passage
    }

    public let configuration: EmbeddingsAPIConfiguration
    /// The server's address for messages: scheme, host and port, never a path or a key.
    public let server: String
    /// Made on first use, so that settings that cannot make one fail a call, not the process.
    private let connection = Mutex<HTTPConnection?>(nil)
    /// The most an answer may hold: 32 texts of 4,096 dimensions as JSON take about 3 MB.
    static let maxResponseBytes = 64 << 20

    public init(configuration: EmbeddingsAPIConfiguration) {
        self.configuration = configuration
        server = Self.origin(of: configuration.endpoint)
        // Whatever the server or a proxy answers, the key is never quoted back.
        SecretRedactor.register(configuration.secrets)
    }

    /// One unit vector per text, in order, in requests of at most `batchSize` texts, each allowed
    /// `timeout` (default: the configured request timeout). Every vector has the same width; the
    /// first batch's decides it unless `dimension` is given.
    public func embed(_ texts: [String], for purpose: Purpose, dimension: Int? = nil,
                      timeout: Duration? = nil) throws(EmbeddingsAPIError) -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        var width = dimension
        var start = 0
        while start < texts.count {
            let batch = Array(texts[start..<min(start + configuration.batchSize, texts.count)])
            let answer = try send(batch, for: purpose, timeout: timeout)
            let parsed = try EmbeddingsAnswer.vectors(in: answer, count: batch.count, dimension: width, server: server)
            width = parsed.first?.count
            vectors += parsed
            start += batch.count
        }
        return vectors
    }

    /// The request for `texts`, sent, its answer's body when the status is success.
    private func send(_ texts: [String], for purpose: Purpose, timeout: Duration?) throws(EmbeddingsAPIError) -> Data {
        let prefix = purpose == .query ? configuration.queryPrefix : configuration.passagePrefix
        var body: [String: Any] = [
            "model": configuration.model, "input": prefix.isEmpty ? texts : texts.map { prefix + $0 },
            "encoding_format": "float",
        ]
        if configuration.sendsInputType { body["input_type"] = purpose.rawValue }
        guard let json = try? JSONSerialization.data(withJSONObject: body) else {
            throw EmbeddingsAPIError(kind: .refused, message: "the texts could not be written as JSON")
        }
        var headers = [(name: "Content-Type", value: "application/json"), (name: "Accept", value: "application/json")]
        if let key = configuration.key { headers.append((name: "Authorization", value: "Bearer \(key)")) }
        let request = HTTPRequest(method: .post, url: configuration.endpoint, headers: headers, body: json, timeout: timeout)
        let response: HTTPResponse
        do {
            // Held for the request: the embedding thread is the one caller once the server runs.
            response = try connection.withLock { connection throws(HTTPError) in
                if connection == nil {
                    connection = try HTTPConnection(connectTimeout: configuration.connectTimeout,
                                                    totalTimeout: configuration.requestTimeout,
                                                    maxResponseBytes: Self.maxResponseBytes)
                }
                return try connection!.send(request)
            }
        } catch {
            let kind: EmbeddingsAPIError.Kind = switch error.kind {
            case .timeout: .timeout
            case .tooLarge: .malformed
            default: .connection
            }
            throw EmbeddingsAPIError(kind: kind, message: "the embeddings API at \(server) did not answer: \(error)")
        }
        guard (200..<300).contains(response.status) else {
            throw .status(response.status, body: response.body, server: server)
        }
        return response.body
    }

    /// scheme://host[:port] of `url`.
    static func origin(of url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else {
            return "the configured server"
        }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }
}

/// The answer of `POST /v1/embeddings`: `{"data": [{"embedding": [...], "index": i}, ...]}`.
enum EmbeddingsAnswer {
    private struct Body: Decodable {
        struct Item: Decodable {
            var embedding: [Float]
            var index: Int?
        }
        var data: [Item]
    }

    /// The widest vector taken: wider than any embedding model's, small enough to bound memory.
    static let maxDimension = 16_384

    /// The `count` vectors in `body`, in the order of their `index` (the order given where there
    /// is none), each scaled to unit length; throws `malformed` for anything else: another count,
    /// widths that differ (or differ from `dimension`), numbers that are not finite, a zero vector.
    static func vectors(in body: Data, count: Int, dimension: Int?, server: String) throws(EmbeddingsAPIError) -> [[Float]] {
        func malformed(_ problem: String) -> EmbeddingsAPIError {
            EmbeddingsAPIError(kind: .malformed, message: "the embeddings API at \(server) answered \(problem)")
        }
        let decoded: Body
        do {
            decoded = try JSONDecoder().decode(Body.self, from: body)
        } catch {
            throw malformed("with something other than an embeddings list (\(SecretRedactor.redact(bytes: body, limit: 120)))")
        }
        guard decoded.data.count == count else { throw malformed("\(decoded.data.count) vectors for \(count) texts") }
        var vectors = [[Float]](repeating: [], count: count)
        for (position, item) in decoded.data.enumerated() {
            let index = item.index ?? position
            guard vectors.indices.contains(index), vectors[index].isEmpty else { throw malformed("a vector index \(index) out of place") }
            let width = dimension ?? decoded.data[0].embedding.count
            guard item.embedding.count == width, (1...maxDimension).contains(width) else {
                throw malformed("a vector of \(item.embedding.count) dimensions where \(width) were due")
            }
            var squares: Float = 0
            for value in item.embedding {
                guard value.isFinite else { throw malformed("a vector holding \(value)") }
                squares += value * value
            }
            guard squares.isFinite else { throw malformed("a vector too long to scale to unit length") }
            guard squares > 0 else { throw malformed("a zero vector") }
            let scale = 1 / squares.squareRoot()
            vectors[index] = item.embedding.map { $0 * scale }
        }
        return vectors
    }
}
