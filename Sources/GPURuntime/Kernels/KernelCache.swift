import Foundation

/// Compiled kernels kept on disk, so only the first start on a machine pays for the run-time
/// compiler (NVRTC and hiprtc take a second or more; loading a cached binary takes milliseconds).
///
/// An entry is named by everything that changes the binary: the runtime, the architecture, the
/// driver and compiler versions and a hash of the source and options. A new driver or a changed
/// kernel therefore never loads a stale binary; old entries are simply left unused.
public struct KernelCache: Sendable {
    /// The folder entries live in; nil turns the cache off.
    public let directory: URL?

    public init(directory: URL?) {
        self.directory = directory
    }

    /// `$XDG_CACHE_HOME/mcp-rag/kernels`, or `~/.cache/mcp-rag/kernels`.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> KernelCache {
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory()).appendingPathComponent(".cache")
        return KernelCache(directory: base.appendingPathComponent("mcp-rag/kernels"))
    }

    /// The entry's file name for this source and target.
    public static func entryName(runtime: GPURuntimeKind, architecture: String, driverVersion: String,
                                 compilerVersion: String?, source: String, options: [String]) -> String {
        let hash = fnv1a64(([source] + options).joined(separator: "\u{0}"))
        let parts = [runtime.rawValue, architecture, "driver\(driverVersion)", "compiler\(compilerVersion ?? "-")"]
        let safe = parts.joined(separator: "-").map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" ? $0 : "_" }
        return String(safe) + "-" + String(hash, radix: 16) + ".bin"
    }

    /// The cached binary named `entry`, if there is one.
    public func load(_ entry: String) -> [UInt8]? {
        guard let directory, let data = FileManager.default.contents(atPath: directory.appendingPathComponent(entry).path),
              !data.isEmpty else { return nil }
        return [UInt8](data)
    }

    /// Stores `binary` as `entry`: written to a temporary file and renamed, so a reader never sees
    /// half a file and two processes compiling at once both leave a whole one. A cache that cannot
    /// be written (a read-only home) only costs the next start a compile.
    public func store(_ binary: [UInt8], as entry: String) {
        guard let directory else { return }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let target = directory.appendingPathComponent(entry)
            let temporary = directory.appendingPathComponent(".\(entry).\(ProcessInfo.processInfo.processIdentifier).tmp")
            try Data(binary).write(to: temporary)
            if rename(temporary.path, target.path) != 0 { try? FileManager.default.removeItem(at: temporary) }
        } catch {
            return
        }
    }

    /// Removes `entry` (a binary the driver refused to load).
    public func remove(_ entry: String) {
        guard let directory else { return }
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(entry))
    }
}

/// 64-bit FNV-1a: a stable hash for cache names (Swift's `hashValue` changes between runs).
func fnv1a64(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    return hash
}
