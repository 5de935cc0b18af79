import Chroma
import EmbeddedVectors
import Embeddings
import EmbeddingsAPI
import FolderWatch
import Redis
import Resilience
import SQLiteLedger

/// What a failed call tells its client: a code a program can act on, and a sentence a person can.
///
/// Every error a tool or command can meet becomes one of these at the edge (`init(_:)`), so that
/// the transports answer alike, metrics can count outcomes by code, and nothing internal leaks:
/// a SQLite failure says which part failed and SQLite's code, never the statement that failed
/// (the full error goes to the log).
///
/// Unlike the conventions' errors (a private code enum behind static members), `Code` is public:
/// it is what programs read from a failed call (`_meta` `mcp-rag/error`), and the metrics count by it.
/// The errors it is made from keep the conventions' form where they have kinds of their own
/// (`SQLiteError` with SQLite's code, `ChromaError`, `KnowledgeStoreError`); a type that is one kind
/// of failure (`InvalidRequest`) carries only its sentence.
public struct ClientError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kinds of failure, as a client sees them.
    public enum Code: String, Sendable, CaseIterable {
        /// The request itself is wrong: change it and ask again.
        case invalidRequest = "invalid_request"
        /// A part the answer needs (the model, Chroma, Redis) is not available now.
        case unavailable
        /// The knowledge base failed on its side; the log says more.
        case internalFailure = "internal"
    }

    public let code: Code
    /// One sentence for a person, without internals.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The client's view of `error`.
    public init(_ error: any Error) {
        switch error {
        case let error as ClientError: self = error
        case let error as InvalidRequest: self.init(.invalidRequest, "invalid arguments: \(error.description)")
        case let error as EmbeddingUnavailable: self.init(.unavailable, error.description)
        case let error as VectorsFromAnotherModel: self.init(.unavailable, error.description)
        case let error as VectorStoreUnavailable: self.init(.unavailable, error.description)
        case let error as ModelLoadError: self.init(.unavailable, "the embedding model is not available: \(error.description)")
        case let error as ChromaError: self.init(.unavailable, error.description)
        case let error as EmbeddingsAPIError: self.init(.unavailable, error.description)
        case let error as CircuitOpenError: self.init(.unavailable, error.description)
        case let error as IngestStopped: self.init(.unavailable, error.description)
        case let error as RedisError: self.init(.unavailable, error.description)
        case let error as SQLiteError:
            self.init(.internalFailure, "the knowledge base's SQLite file failed (\(error.summary)); the server's log has the details")
        case let error as KnowledgeStoreError: self.init(.internalFailure, error.description)
        case let error as ConfigurationError: self.init(.invalidRequest, error.description)
        case let error as EmbeddingInputError: self.init(.invalidRequest, error.description)
        case let error as DocumentLoadError: self.init(.invalidRequest, error.description)
        case let error as DataDirectoryError: self.init(.unavailable, error.description)
        case let error as GPUBackendError: self.init(.unavailable, error.description)
        case let error as WatchUnavailable: self.init(.unavailable, error.description)
        case let error as VectorSnapshotError: self.init(.internalFailure, error.description)
        case let error as IngestInconsistency: self.init(.internalFailure, error.description)
        // Anything else is unexpected, and its text could carry internals: the log has it.
        default: self.init(.internalFailure, "the request failed (\(type(of: error))); the server's log has the details")
        }
    }

    public var description: String { message }
}
