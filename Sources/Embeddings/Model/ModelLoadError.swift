import Foundation

/// A model folder that cannot be used: names the file and says what is wrong with it.
///
/// Every problem found while reading a model (a missing or truncated file, a tensor of the wrong
/// shape, a vocabulary without the special tokens, a config for another architecture) surfaces as one
/// of these, never as a crash.
public struct ModelLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case notFound
        case unreadable
        case malformed
        case unsupported
    }

    private let code: Code
    /// The file (or folder) the problem was found in.
    public let path: String
    /// A sentence saying what is wrong.
    public let problem: String

    private init(_ code: Code, path: String, problem: String) {
        self.code = code
        self.path = path
        self.problem = problem
    }

    /// The file or folder does not exist.
    public static func notFound(_ path: String, _ problem: String) -> ModelLoadError {
        ModelLoadError(.notFound, path: path, problem: problem)
    }

    /// The file exists but could not be opened or read.
    public static func unreadable(_ path: String, _ problem: String) -> ModelLoadError {
        ModelLoadError(.unreadable, path: path, problem: problem)
    }

    /// The file's content is not what the format requires (truncated, bad JSON, wrong shapes).
    public static func malformed(_ path: String, _ problem: String) -> ModelLoadError {
        ModelLoadError(.malformed, path: path, problem: problem)
    }

    /// The file is well formed but describes something this program cannot run.
    public static func unsupported(_ path: String, _ problem: String) -> ModelLoadError {
        ModelLoadError(.unsupported, path: path, problem: problem)
    }

    /// True when the file was missing, as opposed to present but bad.
    public var isNotFound: Bool { code == .notFound }

    public var description: String { "\(path): \(problem)" }
}
