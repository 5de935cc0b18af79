import Foundation

/// A vector index's rows as a snapshot writer sees them: the mapped snapshot's live rows and the
/// rows held in memory, each part in id order (see `VectorIndex.snapshotRows`).
package struct VectorSnapshotRows {
    let dimension: Int
    let labels: [String]
    package let snapshot: VectorSnapshot?
    let snapshotTechnology: [Int32]
    let recent: HeldRows

    /// Where one row of the new file comes from.
    enum Origin {
        case snapshot(Int)
        case recent(Int)
    }

    /// Every live row in the byte order of its id's UTF-8: the snapshot's (already in that order)
    /// merged with the sorted rows held in memory.
    func inIDOrder() -> [Origin] {
        let mapped = snapshotTechnology.indices.filter { snapshotTechnology[$0] != VectorIndex.gone }
        let held = recent.rowsInIDOrder()
        guard let snapshot, !mapped.isEmpty else { return held.map(Origin.recent) }
        var merged: [Origin] = []
        merged.reserveCapacity(mapped.count + held.count)
        var (next, nextHeld) = (0, 0)
        while next < mapped.count || nextHeld < held.count {
            let takeMapped = nextHeld == held.count || (next < mapped.count
                && snapshot.idBytes(at: mapped[next]).lexicographicallyPrecedes(recent.ids[held[nextHeld]].utf8))
            if takeMapped {
                merged.append(.snapshot(mapped[next]))
                next += 1
            } else {
                merged.append(.recent(held[nextHeld]))
                nextHeld += 1
            }
        }
        return merged
    }
}

/// Writes snapshot files. A file is written under a temporary name beside its final one, flushed
/// to disk and renamed into place, so a reader finds either the old file or the whole new one,
/// never a part (a crash leaves only a temporary file, removed by the next store to open).
package enum VectorSnapshotWriter {
    /// The temporary name a process writes `path` under: the process id tells the next store to
    /// open whether the writer is still alive.
    static func temporaryPath(for path: String, process: Int32 = getpid()) -> String {
        "\(path).tmp-\(process)"
    }

    /// Writes `rows` as the snapshot at `path`, recording that they include the chunk journal up
    /// to `journalSequence` (whose entry names `journalChunkID`) of the store `storeID`.
    package static func write(_ rows: VectorSnapshotRows, journalSequence: Int, journalChunkID: String, storeID: String,
                      to path: String) throws {
        let order = rows.inIDOrder()
        let labelBytes = rows.labels.map { Array($0.utf8) }
        var idOffsets: [UInt64] = [0]
        idOffsets.reserveCapacity(order.count + 1)
        for origin in order {
            let length = switch origin {
            case let .snapshot(row): rows.snapshot!.idBytes(at: row).count
            case let .recent(row): rows.recent.ids[row].utf8.count
            }
            idOffsets.append(idOffsets.last! + UInt64(length))
        }
        let marker = Array(journalChunkID.utf8), store = Array(storeID.utf8)
        let header = VectorSnapshotHeader(dimension: rows.dimension, rows: order.count, journalSequence: journalSequence,
                                          idBytes: Int(idOffsets.last!), labelCount: labelBytes.count,
                                          labelBytes: labelBytes.reduce(0) { $0 + $1.count },
                                          markerBytes: marker.count, storeIDBytes: store.count)
        let temporary = temporaryPath(for: path)
        let file = try SnapshotFile(creating: temporary)
        do {
            let layout = header.layout
            try file.append(header.bytes)
            try file.pad(to: layout.codes)
            var scales: [Float] = [], technology: [Int32] = []
            scales.reserveCapacity(order.count)
            technology.reserveCapacity(order.count)
            for origin in order {
                switch origin {
                case let .snapshot(row):
                    let snapshot = rows.snapshot!
                    try file.append(UnsafeRawBufferPointer(start: snapshot.codes + row * rows.dimension, count: rows.dimension))
                    scales.append(snapshot.scales[row])
                    technology.append(rows.snapshotTechnology[row])
                case let .recent(row):
                    try rows.recent.codes.withUnsafeBytes {
                        try file.append(UnsafeRawBufferPointer(rebasing: $0[row * rows.dimension ..< (row + 1) * rows.dimension]))
                    }
                    scales.append(rows.recent.scales[row])
                    technology.append(rows.recent.technology[row])
                }
            }
            try file.pad(to: layout.scales)
            try scales.withUnsafeBytes { try file.append($0) }
            try file.pad(to: layout.int4Codes)
            let int4Scales = try appendInt4Codes(of: order, from: rows, to: file)
            try file.pad(to: layout.int4Scales)
            try int4Scales.withUnsafeBytes { try file.append($0) }
            try file.pad(to: layout.technology)
            try technology.withUnsafeBytes { try file.append($0) }
            try file.pad(to: layout.idOffsets)
            try idOffsets.withUnsafeBytes { try file.append($0) }
            try file.pad(to: layout.idBytes)
            for origin in order {
                switch origin {
                case let .snapshot(row): try file.append(UnsafeRawBufferPointer(rows.snapshot!.idBytes(at: row)))
                case let .recent(row): try file.append(Array(rows.recent.ids[row].utf8))
                }
            }
            try file.pad(to: layout.labelOffsets)
            var labelOffsets: [UInt64] = [0]
            for label in labelBytes { labelOffsets.append(labelOffsets.last! + UInt64(label.count)) }
            try labelOffsets.withUnsafeBytes { try file.append($0) }
            try file.pad(to: layout.labelBytes)
            for label in labelBytes { try file.append(label) }
            try file.pad(to: layout.marker)
            try file.append(marker)
            try file.pad(to: layout.storeID)
            try file.append(store)
            try file.pad(to: layout.vectors)
            var vector = [Float](repeating: 0, count: rows.dimension)
            for origin in order {
                switch origin {
                case let .snapshot(row):
                    let snapshot = rows.snapshot!
                    guard vector.withUnsafeMutableBufferPointer({ snapshot.readVector(at: row, into: $0.baseAddress!) }) else {
                        throw VectorSnapshotError.unreadable(path: path, errno: errno)
                    }
                    try vector.withUnsafeBytes { try file.append($0) }
                case let .recent(row):
                    try rows.recent.vector(at: row).withUnsafeBytes { try file.append($0) }
                }
            }
            try file.finish()
            guard rename(temporary, path) == 0 else { throw VectorSnapshotError.unwritable(path: path, errno: errno) }
        } catch {
            unlink(temporary)
            throw error
        }
        syncFolder(of: path)
    }

    /// Appends the 4-bit codes of the rows in `order` and returns their scales: a mapped row's
    /// copied from its file, a row held in memory packed from its int8 codes.
    private static func appendInt4Codes(of order: [VectorSnapshotRows.Origin], from rows: VectorSnapshotRows,
                                        to file: SnapshotFile) throws -> [Float] {
        let rowBytes = Int4Codes.rowBytes(dimension: rows.dimension)
        var packed = [UInt8](repeating: 0, count: rowBytes)
        var scales: [Float] = []
        scales.reserveCapacity(order.count)
        for origin in order {
            switch origin {
            case let .snapshot(row):
                let snapshot = rows.snapshot!
                try file.append(UnsafeRawBufferPointer(start: snapshot.int4Codes + row * rowBytes, count: rowBytes))
                scales.append(snapshot.int4Scales[row])
            case let .recent(row):
                let scale = rows.recent.codes.withUnsafeBufferPointer { codes in
                    packed.withUnsafeMutableBufferPointer {
                        Int4Codes.pack(codes.baseAddress! + row * rows.dimension, dimension: rows.dimension,
                                       scale: rows.recent.scales[row], into: $0.baseAddress!)
                    }
                }
                try file.append(packed)
                scales.append(scale)
            }
        }
        return scales
    }

    /// Flushes the folder entry of the rename, so the new name survives a power cut.
    private static func syncFolder(of path: String) {
        let folder = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { return }
        fsync(folder)
        close(folder)
    }
}

/// A file written front to back through a buffer.
private final class SnapshotFile {
    private let descriptor: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private var written = 0
    private static let bufferBytes = 1 << 20

    init(creating path: String) throws {
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw VectorSnapshotError.unwritable(path: path, errno: errno) }
        self.path = path
        buffer.reserveCapacity(Self.bufferBytes)
    }

    deinit {
        close(descriptor)
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        written += bytes.count
        if buffer.count >= Self.bufferBytes { try flush() }
    }

    func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    /// Zero bytes up to offset `offset` (a section's start).
    func pad(to offset: Int) throws {
        precondition(offset >= written, "sections are written in order")
        try append([UInt8](repeating: 0, count: offset - written))
    }

    /// Writes out the rest and waits for the disk.
    func finish() throws {
        try flush()
        guard fsync(descriptor) == 0 else { throw VectorSnapshotError.unwritable(path: path, errno: errno) }
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let count = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw VectorSnapshotError.unwritable(path: path, errno: errno) }
                offset += count
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
