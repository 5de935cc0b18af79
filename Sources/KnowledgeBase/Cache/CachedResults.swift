import Foundation

/// The compact form query results take in a result cache (in memory or in Redis).
///
/// Layout: a format byte (2), the result count, then per result its id, text, source, heading and
/// technology (each a length and UTF-8 bytes), its page (0 for none) and its score (the Float64's
/// bits, little-endian). Counts, lengths and pages are LEB128 varints; ranks are positions, so they
/// are not stored. About a third
/// smaller than JSON and several times faster to decode, which is most of a cache hit's cost.
enum CachedResults {
    static let format: UInt8 = 2

    static func encode(_ results: [QueryResult]) -> Data {
        var bytes: [UInt8] = [format]
        bytes.reserveCapacity(results.reduce(16) { $0 + $1.text.utf8.count + $1.source.utf8.count + 64 })
        appendVarint(results.count, to: &bytes)
        for result in results {
            for field in [result.id, result.text, result.source, result.heading, result.technology] {
                appendVarint(field.utf8.count, to: &bytes)
                bytes.append(contentsOf: field.utf8)
            }
            appendVarint(result.page ?? 0, to: &bytes)
            withUnsafeBytes(of: result.score.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return Data(bytes)
    }

    /// The results, or nil when `data` is not in this format (an entry written by another version):
    /// a cache entry that cannot be read is a miss, never an error.
    static func decode(_ data: Data) -> [QueryResult]? {
        data.withUnsafeBytes { raw -> [QueryResult]? in
            var reader = ByteReader(bytes: raw)
            guard reader.byte() == format, let count = reader.varint(), count <= raw.count else { return nil }
            var results: [QueryResult] = []
            results.reserveCapacity(count)
            for index in 0..<count {
                guard let id = reader.string(), let text = reader.string(), let source = reader.string(),
                      let heading = reader.string(), let technology = reader.string(), let page = reader.varint(),
                      let bits = reader.uint64()
                else { return nil }
                results.append(QueryResult(id: id, text: text, source: source, heading: heading, technology: technology,
                                           score: Double(bitPattern: bits), rank: index + 1, page: page == 0 ? nil : page))
            }
            return reader.atEnd ? results : nil
        }
    }

    private static func appendVarint(_ value: Int, to bytes: inout [UInt8]) {
        var value = UInt64(value)
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}

/// Reads `CachedResults`' fields, refusing anything that runs past the end.
private struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    var atEnd: Bool { offset == bytes.count }

    mutating func byte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint() -> Int? {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 63, by: 7) {
            guard let byte = byte() else { return nil }
            value |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte < 0x80 { return value <= UInt64(Int.max) ? Int(value) : nil }
        }
        return nil
    }

    mutating func string() -> String? {
        guard let length = varint(), length <= bytes.count - offset else { return nil }
        defer { offset += length }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length])
        return String(validating: slice, as: UTF8.self)
    }

    mutating func uint64() -> UInt64? {
        guard bytes.count - offset >= 8 else { return nil }
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
