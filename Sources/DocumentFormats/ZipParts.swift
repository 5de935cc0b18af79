import CLibZip

/// The parts of a zip package (Word) read from memory through libzip, unpacked within one budget
/// for the whole package: a zip bomb stops at the budget, whatever sizes its entries claim.
///
/// libzip checks the archive's structure before anything is read (`ZIP_CHECKCONS`: the central
/// directory against each entry's local header, every offset and size within the file), so a
/// crafted zip is refused as damaged instead of being read out of bounds.
final class ZipParts {
    private let archive: OpaquePointer
    /// The bytes libzip reads from; freed after the archive.
    private let storage: UnsafeMutableRawBufferPointer
    private var budget: Int
    private let limit: Int
    /// Each entry's index by its lower-cased name (the first of names that differ only in case):
    /// libzip finds a name case-insensitively by comparing it with every entry, so a book naming
    /// thousands of parts would cost entries × parts comparisons.
    private lazy var indexByName: [String: Int64] = {
        var index: [String: Int64] = [:]
        let count = zip_get_num_entries(archive, 0)
        guard count > 0 else { return index }
        for entry in 0..<count {
            guard let name = zip_get_name(archive, zip_uint64_t(entry), 0) else { continue }
            let key = String(cString: name).lowercased()
            if index[key] == nil { index[key] = entry }
        }
        return index
    }()

    init(_ bytes: [UInt8], limits: FormatLimits) throws(FormatRefusal) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
        self.storage = storage
        var error = zip_error_t()
        zip_error_init(&error)
        defer { zip_error_fini(&error) }
        guard let source = zip_source_buffer_create(storage.baseAddress, zip_uint64_t(bytes.count), 0, &error) else {
            storage.deallocate()
            throw .damaged("libzip could not read it (\(String(cString: zip_error_strerror(&error))))")
        }
        guard let opened = zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error) else {
            zip_source_free(source)
            storage.deallocate()
            throw .damaged("not a zip file (\(String(cString: zip_error_strerror(&error))))")
        }
        archive = opened
        budget = limits.maxUnpackedBytes
        limit = limits.maxUnpackedBytes
    }

    deinit {
        zip_discard(archive)  // frees the source too
        storage.deallocate()
    }

    /// The bytes of the part at `path`; nil when the package has no such part.
    func bytes(of path: String) throws(FormatRefusal) -> [UInt8]? {
        // Part names are case-insensitive in a package (OPC).
        guard let index = indexByName[path.lowercased()] else { return nil }
        var info = zip_stat_t()
        zip_stat_init(&info)
        guard zip_stat_index(archive, zip_uint64_t(index), 0, &info) == 0 else {
            throw .damaged("\(path) cannot be read (\(String(cString: zip_strerror(archive))))")
        }
        // The declared size can lie (it is only a first refusal); what comes out is counted below.
        if info.valid & zip_uint64_t(ZIP_STAT_SIZE) != 0, info.size > zip_uint64_t(budget) {
            throw .unpacksTooLarge(part: path, limit: limit)
        }
        guard let file = zip_fopen_index(archive, zip_uint64_t(index), 0) else {
            throw .damaged("\(path) cannot be unpacked (\(String(cString: zip_strerror(archive))))")
        }
        defer { zip_fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { zip_fread(file, $0.baseAddress!, zip_uint64_t($0.count)) }
            if count == 0 { break }
            guard count > 0 else { throw .damaged("\(path) cannot be unpacked (\(String(cString: zip_file_strerror(file))))") }
            guard Int(count) <= budget - bytes.count else { throw .unpacksTooLarge(part: path, limit: limit) }
            bytes.append(contentsOf: chunk[..<Int(count)])
        }
        budget -= bytes.count
        return bytes
    }
}
