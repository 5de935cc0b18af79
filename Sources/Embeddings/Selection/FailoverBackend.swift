import Foundation
import Synchronization

/// Serves from a GPU backend and, the first time it fails (out of memory, a lost device, a failed
/// launch), from the CPU for that batch and every one after: a GPU fault never fails a query.
///
/// Bad input (``EmbeddingInputError``) is not a GPU fault: it is thrown as it is, and the GPU
/// keeps serving.
public final class FailoverBackend: EmbeddingBackend, Sendable {
    /// Why and when the GPU stopped serving.
    public struct Failure: Sendable, Equatable {
        public var backend: String
        public var reason: String
        public var at: Date

        /// What reports say of it.
        public var summary: String { "\(backend) failed (\(reason)); embeddings moved to the CPU" }
    }

    public let primary: any EmbeddingBackend
    public let fallback: any EmbeddingBackend
    private let failure = Mutex<Failure?>(nil)
    private let onFailure: @Sendable (Failure) -> Void

    /// - Parameter onFailure: called once, when serving moves to `fallback` (for the log).
    public init(primary: any EmbeddingBackend, fallback: any EmbeddingBackend, onFailure: @escaping @Sendable (Failure) -> Void = { _ in }) {
        self.primary = primary
        self.fallback = fallback
        self.onFailure = onFailure
    }

    /// The backend serving now.
    public var name: String { failed == nil ? primary.name : fallback.name }

    /// Why the primary stopped serving; nil while it serves.
    public var failed: Failure? { failure.withLock { $0 } }

    public func embed(tokenized sequences: [[Int32]], work: EmbeddingWork) throws -> [[Float]] {
        if failed == nil {
            do {
                return try primary.embed(tokenized: sequences, work: work)
            } catch let error as EmbeddingInputError {
                throw error
            } catch {
                let record = Failure(backend: primary.name, reason: String(describing: error), at: Date())
                let first = failure.withLock { current in
                    guard current == nil else { return false }
                    current = record
                    return true
                }
                if first { onFailure(record) }
            }
        }
        return try fallback.embed(tokenized: sequences, work: work)
    }

    /// One lane while the primary (a GPU) serves; the fallback's once it failed.
    public var queryLanes: Int { failed == nil ? 1 : fallback.queryLanes }

    public func embedQueries(tokenized sequences: [[Int32]], lane: Int) throws -> [[Float]] {
        guard failed != nil, lane < fallback.queryLanes else { return try embed(tokenized: sequences, work: .queries) }
        return try fallback.embedQueries(tokenized: sequences, lane: lane)
    }
}
