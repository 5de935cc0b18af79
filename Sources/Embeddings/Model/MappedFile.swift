import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file.
///
/// Mapping (rather than reading) keeps model loading fast and lets the kernel share the pages
/// between processes; only the rows of the embedding table a text uses are ever paged in.
///
/// `@unchecked Sendable`: the mapping is created read-only in `init`, never written, and unmapped
/// only in `deinit`, when no other reference can exist.
public final class MappedFile: @unchecked Sendable {
    /// The first byte of the mapping.
    public let bytes: UnsafeRawPointer
    /// The file's size in bytes.
    public let count: Int
    /// The path the file was opened from, for error messages.
    public let path: String

    /// Maps the file at `path`; throws ``ModelLoadError`` when it is missing, empty or unreadable.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            if errno == ENOENT {
                throw ModelLoadError.notFound(path, "the file does not exist")
            }
            throw ModelLoadError.unreadable(path, "cannot open the file: \(reason)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ModelLoadError.unreadable(path, "cannot stat the file: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ModelLoadError.unreadable(path, "not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            throw ModelLoadError.malformed(path, "the file is empty")
        }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            throw ModelLoadError.unreadable(path, "cannot map the file: \(String(cString: strerror(errno)))")
        }
        self.bytes = UnsafeRawPointer(mapping)
        self.count = size
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: bytes), count)
    }
}
