import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Paths handled as the bytes the kernel sees.
///
/// Swift's `String` compares `Character`s under canonical equivalence: "café" spelled with a
/// precomposed é equals "café" spelled e + U+0301, although they name two different folders, and a
/// "/" followed by a combining mark is one `Character` that is not "/". So every comparison,
/// prefix test and split of a path goes through here, on its UTF-8 bytes.
public enum PathBytes {
    public static let slash = UInt8(ascii: "/")

    /// True when `a` and `b` are the same bytes.
    public static func same(_ a: String, _ b: String) -> Bool {
        a.utf8.elementsEqual(b.utf8)
    }

    /// Whether `path` is `folder` or below it, component-wise (so /data2 is not inside /data).
    public static func isInside(_ path: String, _ folder: String) -> Bool {
        var folderBytes = Array(folder.utf8)
        while folderBytes.count > 1, folderBytes.last == slash { folderBytes.removeLast() }
        if folderBytes == [slash] { return path.utf8.first == slash }
        let pathBytes = path.utf8
        guard pathBytes.starts(with: folderBytes) else { return false }
        let rest = pathBytes.dropFirst(folderBytes.count)
        return rest.isEmpty || rest.first == slash
    }

    /// The components of `path` between slashes, empty ones left out.
    public static func components(_ path: String) -> [Substring] {
        path.utf8.split(separator: slash).map { Substring($0) }
    }

    /// `name` appended to `folder` with one slash between.
    public static func join(_ folder: String, _ name: some StringProtocol) -> String {
        folder.utf8.last == slash ? folder + name : folder + "/" + name
    }

    /// `path` made absolute against the working folder, with `.`, `..` and repeated slashes
    /// removed by their spelling alone (no symlink is looked at).
    public static func lexicallyAbsolute(_ path: String) -> String {
        var base = path.utf8.first == slash ? [] : components(FileManager.default.currentDirectoryPath)
        for component in components(path) {
            if component.utf8.elementsEqual(".".utf8) { continue }
            if component.utf8.elementsEqual("..".utf8) {
                if !base.isEmpty { base.removeLast() }
                continue
            }
            base.append(component)
        }
        return "/" + base.joined(separator: "/")
    }

    /// The folder holding `path` (an absolute path without trailing slash), or nil for "/".
    public static func parent(_ path: String) -> (folder: String, name: Substring)? {
        let bytes = Array(path.utf8)
        guard let last = bytes.lastIndex(of: slash), bytes.count > 1 else { return nil }
        let folder = last == 0 ? "/" : String(decoding: bytes[..<last], as: UTF8.self)
        return (folder, Substring(String(decoding: bytes[(last + 1)...], as: UTF8.self)))
    }

    /// `path` made absolute with symlinks and `..` resolved, or nil if it cannot be (it does not
    /// exist, a link is broken, a folder cannot be searched).
    public static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return decoded(resolved)
    }

    /// The path the kernel has for an open descriptor: where the file really is, whatever names
    /// and links led to it. Nil when the system cannot say (no /proc on Linux).
    public static func realPath(ofDescriptor descriptor: Int32) -> String? {
        #if canImport(Darwin)
        var buffer = [CChar](repeating: 0, count: Int(MAXPATHLEN) + 1)
        guard fcntl(descriptor, F_GETPATH, &buffer) == 0 else { return nil }
        return buffer.withUnsafeBufferPointer { decoded($0.baseAddress!) }
        #else
        let capacity = Int(PATH_MAX) + 1
        var buffer = [CChar](repeating: 0, count: capacity)
        let count = readlink("/proc/self/fd/\(descriptor)", &buffer, capacity)
        guard count > 0, count < capacity else { return nil }
        buffer[count] = 0
        return buffer.withUnsafeBufferPointer { decoded($0.baseAddress!) }
        #endif
    }

    /// A C path as a `String`, or nil when its bytes are not UTF-8 (a `String` would repair them
    /// and so name another file).
    public static func decoded(_ cString: UnsafePointer<CChar>) -> String? {
        let bytes = UnsafeRawBufferPointer(start: cString, count: strlen(cString))
        return String(validating: bytes, as: UTF8.self)
    }
}

/// A path as a dictionary key or set member, told apart by its bytes: "café" precomposed and
/// decomposed are two keys, as they are two files (a `String` key would make them one).
public struct PathKey: Hashable, Sendable, CustomStringConvertible {
    public let path: String
    /// `path`'s UTF-8.
    public let bytes: [UInt8]

    public init(_ path: String) {
        self.path = path
        bytes = Array(path.utf8)
    }

    /// The path of these bytes, a prefix of a path's at a slash (so whole UTF-8 characters).
    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = Array(bytes)
        path = String(decoding: bytes, as: UTF8.self)
    }

    public static func == (first: PathKey, second: PathKey) -> Bool { first.bytes == second.bytes }
    public func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
    public var description: String { path }
}

extension PathKey: ExpressibleByStringLiteral {
    public init(stringLiteral path: String) { self.init(path) }
}
