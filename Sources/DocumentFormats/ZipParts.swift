import Foundation
import ZIPFoundation

/// The parts of a zip package (Word, EPUB) read from memory through ZIPFoundation, unpacked
/// within one budget for the whole package: a zip bomb stops at the budget, whatever its entries
/// claim their sizes are.
final class ZipParts {
    private let archive: Archive
    private var budget: Int
    private let limit: Int

    init(_ bytes: [UInt8], limits: FormatLimits) throws(FormatRefusal) {
        do {
            archive = try Archive(data: Data(bytes), accessMode: .read)
        } catch {
            throw .damaged("not a zip file (\(error))")
        }
        budget = limits.maxUnpackedBytes
        limit = limits.maxUnpackedBytes
    }

    /// The bytes of the part at `path`; nil when the package has no such part.
    func bytes(of path: String) throws(FormatRefusal) -> [UInt8]? {
        guard let entry = archive[path], entry.type == .file else { return nil }
        guard entry.uncompressedSize <= UInt64(budget) else { throw .unpacksTooLarge(part: path, limit: limit) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(entry.uncompressedSize))
        var overBudget = false
        do {
            _ = try archive.extract(entry, bufferSize: 64 << 10, skipCRC32: false) { chunk in
                // The declared size can lie: count what actually comes out.
                guard chunk.count <= self.budget - bytes.count else {
                    overBudget = true
                    throw CocoaError(.fileReadTooLarge)
                }
                bytes.append(contentsOf: chunk)
            }
        } catch {
            if overBudget { throw .unpacksTooLarge(part: path, limit: limit) }
            throw .damaged("\(path) cannot be unpacked (\(error))")
        }
        budget -= bytes.count
        return bytes
    }
}
