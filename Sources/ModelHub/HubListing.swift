import Foundation

/// What the Hub says of one revision of a model repository
/// (`GET /api/models/{repository}/revision/{revision}?blobs=true`): the commit it resolves to, and
/// every file with its size and checksum.
struct HubListing: Decodable, Sendable {
    /// The commit the revision resolves to.
    let sha: String
    let siblings: [HubFile]
}

/// A file of a repository as the Hub lists it.
struct HubFile: Decodable, Sendable, Equatable {
    struct LargeFile: Decodable, Sendable, Equatable {
        /// The SHA-256 of the file's content.
        let sha256: String
        let size: Int64
    }

    /// The path in the repository, `/`-separated.
    let rfilename: String
    /// The git blob id: SHA-1 of `blob <size>\0<content>`.
    let blobId: String?
    let size: Int64?
    /// Present for files kept in Git LFS (weights, large tokenizers).
    let lfs: LargeFile?

    /// How the file's content is checked, and the name its blob gets in the cache (the Hub's
    /// ETag: the SHA-256 for LFS files, the git blob id for the others).
    var checksum: FileChecksum? {
        if let lfs { return .sha256(lfs.sha256.lowercased()) }
        if let blobId { return .gitBlob(blobId.lowercased()) }
        return nil
    }

    /// The content's size in bytes.
    var byteCount: Int64? { lfs?.size ?? size }
}

/// The checksum a file's content must match.
enum FileChecksum: Sendable, Equatable {
    case sha256(String)
    case gitBlob(String)

    /// The blob's name in the cache, as huggingface_hub names it.
    var blobName: String {
        switch self {
        case .sha256(let hex), .gitBlob(let hex): hex
        }
    }

    /// Whether `hex` could be such a checksum: lowercase hex of the right length, nothing that
    /// could step out of the blobs folder.
    var isWellFormed: Bool {
        let (hex, length) = switch self {
        case .sha256(let hex): (hex, 64)
        case .gitBlob(let hex): (hex, 40)
        }
        return hex.utf8.count == length && hex.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

/// Which of a repository's files mcp-rag needs to run the model: the weights as `model.safetensors`,
/// the JSON and text settings and vocabularies at the top, a SentencePiece model, and the JSON of
/// the numbered module folders (`1_Pooling/config.json`). Other weight formats (PyTorch, ONNX,
/// OpenVINO, TensorFlow) are left on the Hub.
enum ModelFileSelection {
    static let weights = "model.safetensors"

    static func isNeeded(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        // Names as model repositories write them, nothing else: a name from a hostile endpoint
        // (`..`, control characters, a NUL) never becomes a path in the cache.
        guard parts.allSatisfy({ part in
            !part.isEmpty && !part.hasPrefix(".") && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
        }) else { return false }
        let name = parts.last!
        let suffix = name.split(separator: ".").last.map(String.init) ?? ""
        switch parts.count {
        case 1:
            return name == weights || ["json", "txt", "model"].contains(suffix)
        case 2:
            return parts[0].first!.isNumber && parts[0].contains("_") && suffix == "json"
        default:
            return false
        }
    }
}
