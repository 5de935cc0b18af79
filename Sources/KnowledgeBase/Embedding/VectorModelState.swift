import SQLiteLedger
import Synchronization

/// Whether the stored vectors are the loaded model's, as the query path, ingests and health see
/// it: decided when the knowledge base opens, and decided again when another process re-embeds
/// the store with another model while this one runs (its next catch-up or write finds the record
/// changed, `KnowledgeStoreError.embeddingModelChanged`).
public final class VectorModelState: Sendable {
    private let mismatch: Mutex<VectorsFromAnotherModel?>
    /// The loaded model's fingerprint and folder, for the message.
    private let loaded: String
    private let modelPath: String

    public init(_ initial: VectorsFromAnotherModel? = nil, loaded: String? = nil, loadedName: String? = nil, modelPath: String = "") {
        mismatch = Mutex(initial)
        self.loaded = loaded.map { VectorsFromAnotherModel.naming(loadedName, fingerprint: $0) } ?? "no model"
        self.modelPath = modelPath
    }

    /// Why semantic search is off and ingests refused; nil while the vectors are the loaded model's.
    public var current: VectorsFromAnotherModel? { mismatch.withLock { $0 } }

    /// Records that the store now holds another model's vectors, when `error` says so; true if it did.
    @discardableResult
    func note(_ error: any Error) -> Bool {
        guard let error = error as? KnowledgeStoreError, let recorded = error.reembeddedBy else { return false }
        mismatch.withLock { state in
            state = VectorsFromAnotherModel(recorded: "fingerprint \(recorded)", loaded: loaded, modelPath: modelPath,
                                            reembeddedWhileRunning: true)
        }
        return true
    }
}
