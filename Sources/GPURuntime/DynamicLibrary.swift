import Foundation

/// A shared library opened with `dlopen` and the C functions looked up in it; it stays loaded for
/// the life of the process.
///
/// mcp-rag links nothing GPU-related at build time: the same binary runs where no GPU runtime is
/// installed, and finds ROCm or CUDA where one is. Every failure to open or resolve becomes a
/// ``LibraryLoadError`` whose text says what is missing, never a crash.
///
/// `@unchecked Sendable`: the handle and path are set once; `dlsym` may be called from any thread.
public final class DynamicLibrary: @unchecked Sendable {
    /// The path or name it was opened by.
    public let path: String
    private let handle: UnsafeMutableRawPointer

    private init(path: String, handle: UnsafeMutableRawPointer) {
        self.path = path
        self.handle = handle
    }

    // No dlclose, ever: GPU runtimes start threads and register exit handlers when first called
    // (ROCm's HIP runtime does, even when it then finds no GPU), and unloading one under them
    // corrupts the heap, seen as "malloc(): unaligned fastbin chunk" at exit. A library opened
    // once stays for the life of the process, as the runtimes' own loaders do.

    /// Opens the first of `names` that loads, looking in `search`'s folders before the system's.
    ///
    /// RTLD_LOCAL keeps the library's symbols out of the global namespace (two runtimes can then
    /// be probed side by side); RTLD_NOW resolves its own dependencies at once, so a library whose
    /// dependencies are missing fails here, with the loader's reason, rather than at first call.
    public static func open(_ names: [String], search: LibrarySearch) throws(LibraryLoadError) -> DynamicLibrary {
        var failures: [String] = []
        for candidate in search.candidates(for: names) {
            if let handle = dlopen(candidate, RTLD_NOW | RTLD_LOCAL) {
                return DynamicLibrary(path: candidate, handle: handle)
            }
            // "cannot open shared object file" only says the name was not found; anything else
            // (a wrong architecture, a missing dependency) is worth showing.
            if let message = dlerror().map({ String(cString: $0) }), !message.contains("No such file") {
                failures.append(message)
            }
        }
        throw .notFound(names: names, failures: failures)
    }

    /// The names in `symbols` this library does not export.
    public func missing(_ symbols: [String]) -> [String] {
        symbols.filter { dlsym(handle, $0) == nil }
    }

    /// The C function `name`, typed as `type` (a `@convention(c)` function type).
    ///
    /// The type is the caller's promise about the function's signature: it is written from the
    /// runtime's published headers, which mcp-rag does not need at build time.
    public func function<Function>(_ name: String, as type: Function.Type = Function.self) throws(LibraryLoadError) -> Function {
        guard let pointer = dlsym(handle, name) else { throw .missingSymbols(library: path, symbols: [name]) }
        return unsafeBitCast(pointer, to: type)
    }

    /// Like ``function(_:as:)``, nil when the library lacks it (an optional, newer entry point).
    public func optionalFunction<Function>(_ name: String, as type: Function.Type = Function.self) -> Function? {
        dlsym(handle, name).map { unsafeBitCast($0, to: type) }
    }

    /// Throws naming every symbol of `symbols` that is missing, so a person sees the whole gap at
    /// once (an old driver usually lacks several).
    public func require(_ symbols: [String]) throws(LibraryLoadError) {
        let absent = missing(symbols)
        if !absent.isEmpty { throw .missingSymbols(library: path, symbols: absent) }
    }
}

/// Why a GPU library could not be used.
///
/// A public enum, not the conventions' struct with a private code: the probe matches its cases (a
/// library simply absent is no problem to report, one that lacks functions is), and there are only
/// these two.
public enum LibraryLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// None of the names loaded; `failures` holds the loader's messages other than "not found".
    case notFound(names: [String], failures: [String])
    /// The library loaded but lacks these functions.
    case missingSymbols(library: String, symbols: [String])

    public var description: String {
        switch self {
        case .notFound(let names, let failures):
            let tried = "none of \(names.joined(separator: ", ")) could be loaded"
            return failures.isEmpty ? "not installed (\(tried))" : "\(tried): \(failures.joined(separator: "; "))"
        case .missingSymbols(let library, let symbols):
            return "\(library) lacks \(symbols.joined(separator: ", ")) (too old, or not the real library?)"
        }
    }
}
