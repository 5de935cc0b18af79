import Foundation

/// A file holding a vector index's rows: their int8 codes and 4-bit form (what a search scans, see
/// `Int4Codes`), mapped into memory read-only, and their float32 vectors (what its best candidates
/// are scored exactly with), read row by row. Opening a store of a million chunks maps 600 MB
/// instead of reading and quantizing 1.5 GB of float32 vectors from SQLite, and processes sharing
/// a data folder share the mapped pages (the page cache) instead of each holding a copy.
///
/// The file is a cache of what SQLite holds, never the only copy: it records the chunk journal
/// entry it reflects, and a store opening it applies the journal entries after that one (see
/// `SQLiteKnowledgeStore+Snapshot`). Rows are sorted by the UTF-8 bytes of their ids, so an id is
/// found by binary search and row order is id order. Values are in native byte order: the file
/// belongs to the machine that wrote it, like the SQLite file's vector blobs.
///
/// Immutable once mapped; replaced files are renamed over it, never rewritten in place, so a
/// mapping stays valid for as long as it is held.
public final class VectorSnapshot: @unchecked Sendable {
    /// Values in each row.
    public let dimension: Int
    /// Rows in the file.
    public let rowCount: Int
    /// The chunk journal sequence number whose changes the rows include (0: the journal was empty).
    public let journalSequence: Int
    /// The chunk id of that journal entry ("" for 0), so a store can tell its own journal from
    /// another database's that happens to reach the same number.
    public let journalChunkID: String
    /// The `meta.store_id` of the database the rows came from.
    public let storeID: String
    /// Technology labels; a row's code indexes this list.
    public let labels: [String]
    /// The file's size.
    public let byteCount: Int

    /// Row-major int8 codes, `rowCount × dimension`.
    let codes: UnsafePointer<Int8>
    /// Each row's scale: its vector is `codes × scale`.
    let scales: UnsafePointer<Float>
    /// The rows in 4-bit codes (see `Int4Codes`), `Int4Codes.rowBytes(dimension:)` bytes each.
    let int4Codes: UnsafePointer<UInt8>
    /// Each row's 4-bit scale.
    let int4Scales: UnsafePointer<Float>
    /// Each row's technology code.
    let technology: UnsafePointer<Int32>
    private let idOffsets: UnsafePointer<UInt64>
    private let idBytes: UnsafePointer<UInt8>
    private let mapping: UnsafeMutableRawPointer
    /// Bytes mapped: everything before the float32 vectors.
    let mappedByteCount: Int
    /// The open file, which the float32 vectors are read from.
    private let descriptor: Int32
    /// Where the float32 vectors start in the file.
    private let vectorsOffset: Int

    /// Maps the file at `path` and checks that it is whole and consistent (sizes, offsets, sorted
    /// ids, codes within the label list); throws `VectorSnapshotError` otherwise.
    ///
    /// The float32 vectors are not mapped but read row by row (`readVector`): a search reads only
    /// its candidates' rows, and read through the page cache they do not become the process's
    /// memory, where mapped pages (and the kernel maps the pages around each one it faults in)
    /// would grow it by more than a gigabyte over a few hundred searches of a million rows.
    public init(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw VectorSnapshotError.unreadable(path: path, errno: errno) }
        var mapped: UnsafeMutableRawPointer?
        var mappedLength = 0
        let idByteCount: Int
        do {
            var status = stat()
            guard fstat(descriptor, &status) == 0 else { throw VectorSnapshotError.unreadable(path: path, errno: errno) }
            let size = Int(status.st_size)
            var headerBytes = [UInt8](repeating: 0, count: VectorSnapshotLayout.headerBytes)
            let read = headerBytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
            guard read == headerBytes.count else { throw VectorSnapshotError.invalid(path: path, reason: "shorter than its header") }
            let header = try headerBytes.withUnsafeBytes { try VectorSnapshotHeader(reading: $0, path: path) }
            let layout = header.layout
            guard layout.totalBytes == size else {
                throw VectorSnapshotError.invalid(path: path, reason: "\(size) bytes where its header implies \(layout.totalBytes)")
            }
            guard let mapping = mmap(nil, layout.vectors, PROT_READ, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else {
                throw VectorSnapshotError.unreadable(path: path, errno: errno)
            }
            (mapped, mappedLength) = (mapping, layout.vectors)
            let base = UnsafeRawPointer(mapping)
            dimension = header.dimension
            rowCount = header.rows
            journalSequence = header.journalSequence
            codes = (base + layout.codes).assumingMemoryBound(to: Int8.self)
            scales = (base + layout.scales).assumingMemoryBound(to: Float.self)
            int4Codes = (base + layout.int4Codes).assumingMemoryBound(to: UInt8.self)
            int4Scales = (base + layout.int4Scales).assumingMemoryBound(to: Float.self)
            technology = (base + layout.technology).assumingMemoryBound(to: Int32.self)
            idOffsets = (base + layout.idOffsets).assumingMemoryBound(to: UInt64.self)
            idBytes = (base + layout.idBytes).assumingMemoryBound(to: UInt8.self)
            let labelOffsets = (base + layout.labelOffsets).assumingMemoryBound(to: UInt64.self)
            let labelBytes = (base + layout.labelBytes).assumingMemoryBound(to: UInt8.self)
            labels = try Self.strings(offsets: labelOffsets, count: header.labelCount, bytes: labelBytes,
                                      byteCount: header.labelBytes, path: path)
            guard Set(labels).count == labels.count else { throw VectorSnapshotError.invalid(path: path, reason: "a label twice") }
            journalChunkID = Self.string(base + layout.marker, count: header.markerBytes)
            storeID = Self.string(base + layout.storeID, count: header.storeIDBytes)
            byteCount = size
            mappedByteCount = layout.vectors
            self.mapping = mapping
            self.descriptor = descriptor
            vectorsOffset = layout.vectors
            idByteCount = header.idBytes
        } catch {
            if let mapped { munmap(mapped, mappedLength) }
            close(descriptor)
            throw error
        }
        // Every property is set: should the checks fail, the deinitializer unmaps and closes.
        try checkRows(idByteCount: idByteCount, path: path)
        // Searches read every code: ask for them ahead (the kernel reads in the background).
        madvise(mapping, mappedByteCount, MADV_WILLNEED)
    }

    deinit {
        munmap(mapping, mappedByteCount)
        close(descriptor)
    }

    /// Reads row `row`'s float32 vector into `vector` (`dimension` values); false when the file
    /// cannot be read.
    func readVector(at row: Int, into vector: UnsafeMutablePointer<Float>) -> Bool {
        let length = dimension * MemoryLayout<Float>.size
        var done = 0
        while done < length {
            let count = pread(descriptor, UnsafeMutableRawPointer(vector) + done, length - done,
                              off_t(vectorsOffset + row * length + done))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            done += count
        }
        return true
    }

    /// The journal entry the file at `path` reflects, read from its header alone; nil when there is
    /// no file or it is no snapshot. For looking whether another process wrote a newer file without
    /// mapping and checking the whole of it (about 10 ms at a million rows).
    public static func journalSequence(ofFileAt path: String) -> Int? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: VectorSnapshotLayout.headerBytes)
        let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard read == bytes.count else { return nil }
        return bytes.withUnsafeBytes { try? VectorSnapshotHeader(reading: $0, path: path) }?.journalSequence
    }

    /// The id of row `row`.
    public func id(at row: Int) -> String {
        String(decoding: idBytes(at: row), as: UTF8.self)
    }

    /// The row holding `id`, nil when the file has none.
    public func row(of id: String) -> Int? {
        var id = id
        return id.withUTF8 { wanted in
            var low = 0, high = rowCount
            while low < high {
                let middle = (low + high) / 2
                let order = compare(row: middle, with: wanted)
                if order == 0 { return middle }
                if order < 0 { low = middle + 1 } else { high = middle }
            }
            return nil
        }
    }

    /// The bytes of row `row`'s id, for writing it into another snapshot.
    func idBytes(at row: Int) -> UnsafeBufferPointer<UInt8> {
        let range = idRange(row)
        return UnsafeBufferPointer(start: idBytes + range.lowerBound, count: range.count)
    }

    /// Negative, zero or positive as row `row`'s id sorts before, equal to or after `other`.
    private func compare(row: Int, with other: UnsafeBufferPointer<UInt8>) -> Int {
        let range = idRange(row)
        let common = min(range.count, other.count)
        let order = common == 0 ? 0 : Int(memcmp(idBytes + range.lowerBound, other.baseAddress!, common))
        return order != 0 ? order : range.count - other.count
    }

    private func idRange(_ row: Int) -> Range<Int> {
        Int(idOffsets[row]) ..< Int(idOffsets[row + 1])
    }

    /// What a search relies on without checking again: offsets that grow within the id bytes, ids
    /// in strictly increasing order, technology codes within the labels, finite scales.
    private func checkRows(idByteCount: Int, path: String) throws {
        guard idOffsets[0] == 0, idOffsets[rowCount] == UInt64(idByteCount) else {
            throw VectorSnapshotError.invalid(path: path, reason: "its id offsets do not span its id bytes")
        }
        for row in 0..<rowCount where idOffsets[row + 1] < idOffsets[row] {
            throw VectorSnapshotError.invalid(path: path, reason: "id offset \(row + 1) goes backwards")
        }
        for row in 1..<max(1, rowCount) where compare(row: row, with: idBytes(at: row - 1)) <= 0 {
            throw VectorSnapshotError.invalid(path: path, reason: "ids out of order at row \(row)")
        }
        for row in 0..<rowCount {
            guard technology[row] >= 0, Int(technology[row]) < labels.count else {
                throw VectorSnapshotError.invalid(path: path, reason: "row \(row) names label \(technology[row]) of \(labels.count)")
            }
            guard scales[row].isFinite, int4Scales[row].isFinite else {
                throw VectorSnapshotError.invalid(path: path, reason: "row \(row) has no finite scale")
            }
        }
    }

    private static func strings(offsets: UnsafePointer<UInt64>, count: Int, bytes: UnsafePointer<UInt8>,
                                byteCount: Int, path: String) throws -> [String] {
        guard offsets[0] == 0, offsets[count] == UInt64(byteCount) else {
            throw VectorSnapshotError.invalid(path: path, reason: "its label offsets do not span its label bytes")
        }
        return try (0..<count).map { index in
            let (start, end) = (Int(offsets[index]), Int(offsets[index + 1]))
            guard start <= end, end <= byteCount else { throw VectorSnapshotError.invalid(path: path, reason: "label offset \(index + 1) goes backwards") }
            return string(UnsafeRawPointer(bytes + start), count: end - start)
        }
    }

    private static func string(_ start: UnsafeRawPointer, count: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    }
}

/// Why a snapshot file could not be used. A store that meets one loads its vectors from SQLite
/// instead and writes a new file.
///
/// A public enum, not the conventions' struct with a private code: the store matches its cases (a
/// file that is absent, `unreadable` with ENOENT, is no problem to log), and they follow the file
/// format, which this module alone defines.
public enum VectorSnapshotError: Error, CustomStringConvertible {
    case unreadable(path: String, errno: Int32)
    case unwritable(path: String, errno: Int32)
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, code): "vector snapshot \(path) cannot be read: \(String(cString: strerror(code)))"
        case let .unwritable(path, code): "vector snapshot \(path) cannot be written: \(String(cString: strerror(code)))"
        case let .invalid(path, reason): "vector snapshot \(path) is not usable: \(reason)"
        }
    }
}

/// The fixed-size header at the start of a snapshot file.
struct VectorSnapshotHeader {
    static let magic = Array("MRAGVEC1".utf8)
    /// 2 added the 4-bit codes, 3 the float32 vectors. A file of another format is not used: the
    /// store loads its vectors from SQLite and writes a file of this one.
    static let formatVersion = 3

    var dimension: Int
    var rows: Int
    var journalSequence: Int
    var idBytes: Int
    var labelCount: Int
    var labelBytes: Int
    var markerBytes: Int
    var storeIDBytes: Int

    var layout: VectorSnapshotLayout { VectorSnapshotLayout(self) }

    /// The fields in file order, after the magic and the format version.
    private var fields: [Int] {
        [dimension, rows, journalSequence, idBytes, labelCount, labelBytes, markerBytes, storeIDBytes]
    }

    /// The header as it is written: `VectorSnapshotLayout.headerBytes` bytes.
    var bytes: [UInt8] {
        var bytes = Self.magic
        for value in [Self.formatVersion] + fields {
            withUnsafeBytes(of: Int64(value)) { bytes.append(contentsOf: $0) }
        }
        bytes.append(contentsOf: [UInt8](repeating: 0, count: VectorSnapshotLayout.headerBytes - bytes.count))
        return bytes
    }
}

// In an extension, so the struct keeps its memberwise initializer.
extension VectorSnapshotHeader {
    init(reading bytes: UnsafeRawBufferPointer, path: String) throws {
        guard Array(bytes.prefix(Self.magic.count)) == Self.magic else {
            throw VectorSnapshotError.invalid(path: path, reason: "not a vector snapshot file")
        }
        let values = (0..<9).map { bytes.loadUnaligned(fromByteOffset: Self.magic.count + 8 * $0, as: Int64.self) }
        guard values[0] == Self.formatVersion else {
            throw VectorSnapshotError.invalid(path: path, reason: "format \(values[0]), this build reads \(Self.formatVersion)")
        }
        // Bounds that keep the layout's arithmetic far from overflow on any file.
        let limits: [Int64] = [1 << 16, 1 << 40, Int64.max, 1 << 44, 1 << 20, 1 << 32, 1 << 20, 1 << 10]
        for (value, limit) in zip(values.dropFirst(), limits) where value < 0 || value > limit {
            throw VectorSnapshotError.invalid(path: path, reason: "a header field is out of range")
        }
        let field = values.dropFirst().map { Int($0) }
        guard field[0] > 0 else { throw VectorSnapshotError.invalid(path: path, reason: "a zero dimension") }
        self.init(dimension: field[0], rows: field[1], journalSequence: field[2], idBytes: field[3],
                  labelCount: field[4], labelBytes: field[5], markerBytes: field[6], storeIDBytes: field[7])
    }
}

/// Where each section of a snapshot file starts: each is aligned to 64 bytes (a cache line, and
/// enough for any SIMD load of the codes). The float32 vectors come last, at a multiple of 64 KiB
/// (a multiple of any page size), so the mapping can end where they begin: they are read row by
/// row, not mapped.
struct VectorSnapshotLayout {
    static let headerBytes = 128
    static let alignment = 64
    static let pageAlignment = 65_536

    let codes, scales, int4Codes, int4Scales, technology, idOffsets, idBytes, labelOffsets, labelBytes, marker, storeID,
        vectors, totalBytes: Int

    init(_ header: VectorSnapshotHeader) {
        var end = Self.headerBytes
        func section(_ bytes: Int, alignment: Int = Self.alignment) -> Int {
            let start = (end + alignment - 1) / alignment * alignment
            end = start + bytes
            return start
        }
        codes = section(header.rows * header.dimension)
        scales = section(header.rows * MemoryLayout<Float>.size)
        int4Codes = section(header.rows * Int4Codes.rowBytes(dimension: header.dimension))
        int4Scales = section(header.rows * MemoryLayout<Float>.size)
        technology = section(header.rows * MemoryLayout<Int32>.size)
        idOffsets = section((header.rows + 1) * MemoryLayout<UInt64>.size)
        idBytes = section(header.idBytes)
        labelOffsets = section((header.labelCount + 1) * MemoryLayout<UInt64>.size)
        labelBytes = section(header.labelBytes)
        marker = section(header.markerBytes)
        storeID = section(header.storeIDBytes)
        vectors = section(header.rows * header.dimension * MemoryLayout<Float>.size, alignment: Self.pageAlignment)
        totalBytes = end
    }
}
