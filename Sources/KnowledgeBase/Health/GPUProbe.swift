import Foundation

/// Looks for the GPU runtimes mcp-rag can use, without linking or initialising any of them.
///
/// Only `dlopen` is tried (RTLD_LAZY | RTLD_LOCAL, closed again at once): enough to tell a person
/// whether a runtime is installed and why it is not used. The GPU backend itself arrives with its
/// own module; until then every found runtime is reported as "found, not yet used".
public enum GPUProbe {
    /// One runtime and what became of it.
    public struct Runtime: Sendable, Codable, Equatable {
        /// "hip" or "cuda".
        public var name: String
        /// The library file that was opened, if one was.
        public var library: String?
        /// Whether the runtime can serve embeddings now.
        public var usable: Bool
        /// Why not, in words.
        public var reason: String
    }

    /// The libraries tried for each runtime, newest first.
    static let candidates: [(name: String, libraries: [String])] = [
        ("hip", ["libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so"]),
        ("cuda", ["libcuda.so.1", "libcuda.so"]),
    ]

    /// Every runtime with the reason it is (not) usable.
    public static func probe() -> [Runtime] {
        candidates.map { candidate in
            for library in candidate.libraries {
                if let handle = dlopen(library, RTLD_LAZY | RTLD_LOCAL) {
                    dlclose(handle)
                    return Runtime(name: candidate.name, library: library, usable: false,
                                   reason: "\(library) found, but this build has no GPU backend yet; embeddings run on the CPU")
                }
            }
            return Runtime(name: candidate.name, library: nil, usable: false,
                           reason: "not installed (none of \(candidate.libraries.joined(separator: ", ")) could be loaded)")
        }
    }
}
