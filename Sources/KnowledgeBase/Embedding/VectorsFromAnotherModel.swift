/// The knowledge base's vectors were made by another embedding model than the one loaded (a
/// different fingerprint, or vectors of another width): comparing a query's vector with them would
/// rank passages by noise, so semantic search is off (answers come from keyword search, saying
/// why) and ingests are refused (they would mix two models' vectors).
public struct VectorsFromAnotherModel: Error, CustomStringConvertible, Sendable, Equatable {
    /// What the store records of the model that made its vectors, and what the loaded model is.
    public let recorded: String
    public let loaded: String
    /// The loaded model's folder.
    public let modelPath: String
    /// True when another process re-embedded the store after this one opened it (with the model
    /// it loads, the vectors were right until then).
    public var reembeddedWhileRunning = false
    /// True when the two models share their fingerprint and differ in their weights only (a
    /// fine-tune that left the fingerprint's samples as they were): the knowledge base's Chroma
    /// collections and cached answers are named by the fingerprint, so `reembed` cannot move it over.
    public var otherWeightsOnly = false

    /// How a message names a model: its name where it is known, and its fingerprint.
    public static func naming(_ name: String?, fingerprint: String) -> String {
        name.map { "\($0), fingerprint \(fingerprint)" } ?? "fingerprint \(fingerprint)"
    }

    public var description: String {
        let advice = if reembeddedWhileRunning {
            "another process re-embedded it while this one ran (or, still empty, took it for its own model): "
                + "restart this one with the model that did"
        } else if otherWeightsOnly {
            "go back to the model that made them, or give the loaded one a knowledge base of its own (another data "
                + "folder, and another CHROMA_COLLECTION with Chroma)"
        } else {
            "run `mcp-rag reembed` to embed them again with the loaded model, or go back to the model that made them"
        }
        return "the knowledge base's vectors were made by another embedding model (\(recorded)) than the one this server "
            + "loads (\(loaded), from \(modelPath)), so semantic search is off and ingests are refused: \(advice)"
    }
}
