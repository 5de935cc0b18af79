import CKernels
@testable import EmbeddedVectors
import Foundation
import Testing
import TestSupport

/// The 4-bit first pass: packing, the kernel on every instruction set, the scores' error, and a
/// mapped snapshot's search, which prunes with it, against the exact int8 search.
@Suite struct Int4CodesTests {
    private func pack(_ codes: [Int8], scale: Float = 1) -> (bytes: [UInt8], scale: Float) {
        var bytes = [UInt8](repeating: 0, count: Int4Codes.rowBytes(dimension: codes.count))
        let packedScale = codes.withUnsafeBufferPointer { codes in
            bytes.withUnsafeMutableBufferPointer {
                Int4Codes.pack(codes.baseAddress!, dimension: codes.count, scale: scale, into: $0.baseAddress!)
            }
        }
        return (bytes, packedScale)
    }

    @Test func theLargestMagnitudeBecomesSevenStepsAndBothHalvesShareAByte() {
        // round(7c / 127): 7, -4, 0, 2, -7, stored with the bias 8: 15, 4, 8, 10, 1; the sixth
        // value of an odd dimension is missing and stored as zero (8).
        let (bytes, scale) = pack([127, -64, 0, 32, -127], scale: 0.01)
        #expect(bytes == [15 | 10 << 4, 4 | 1 << 4, 8 | 8 << 4])
        #expect(abs(scale - 0.01 * 127 / 7) < 1e-7)
        let zero = pack([0, 0, 0, 0])
        #expect(zero.bytes == [0x88, 0x88] && zero.scale == 0, "a zero row stands for zeros")
    }

    @Test func theQueryIsSplitWhereTheRowsAre() {
        let query = Int4Codes.Query(codes: [1, 2, 3, 4, 5], scale: 0.5)
        #expect(query.low == [1, 2, 3] && query.high == [4, 5, 0])
        #expect(query.offset == 8 * 15)
    }

    /// The kernel's definition, computed plainly.
    private func expectedScores(rows: [UInt8], rowBytes: Int, scales: [Float], query: Int4Codes.Query) -> [Float] {
        (0..<scales.count).map { row in
            var total: Int32 = 0
            for byte in 0..<rowBytes {
                let packed = rows[row * rowBytes + byte]
                total += Int32(packed & 0x0F) * Int32(query.low[byte]) + Int32(packed >> 4) * Int32(query.high[byte])
            }
            return Float(total - query.offset) * scales[row] * query.scale
        }
    }

    @Test(arguments: [0, 1, 2] as [Int32])
    func theKernelComputesItsDefinitionOnEveryInstructionSet(level: Int32) {
        var generator = SeededGenerator(seed: 41)
        // Row widths below, at and off the 32-byte vector width, and the model's 192.
        for dimension in [5, 64, 90, 384, 401] {
            let rowBytes = Int4Codes.rowBytes(dimension: dimension)
            let count = 37
            let rows = (0..<count * rowBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let scales = (0..<count).map { _ in Float.random(in: 0.001...0.1, using: &generator) }
            let codes = (0..<dimension).map { _ in Int8.random(in: -127...127, using: &generator) }
            let query = Int4Codes.Query(codes: codes, scale: 0.01)
            let found = rows.withUnsafeBufferPointer { rows in
                scales.withUnsafeBufferPointer { scales in
                    Int4Codes.similarities(codes: rows.baseAddress!, scales: scales.baseAddress!, rows: count,
                                           dimension: dimension, query: query, instructionSet: level)
                }
            }
            #expect(found == expectedScores(rows: rows, rowBytes: rowBytes, scales: scales, query: query), "dimension \(dimension)")
        }
    }

    @Test func fourBitScoresAreWithinTheirRoundingOfTheTrueOnes() {
        var generator = SeededGenerator(seed: 5)
        let dimension = 384
        let vectors = (0..<500).map { _ in randomUnitVector(dimension: dimension, using: &generator) }
        let query = randomUnitVector(dimension: dimension, using: &generator)
        var rows: [UInt8] = [], scales: [Float] = []
        for vector in vectors {
            let (codes, scale) = Int8Codes.quantize(vector)
            let packed = pack(codes, scale: scale)
            rows += packed.bytes
            scales.append(packed.scale)
        }
        let (queryCodes, queryScale) = Int8Codes.quantize(query)
        let found = rows.withUnsafeBufferPointer { rows in
            scales.withUnsafeBufferPointer { scales in
                Int4Codes.similarities(codes: rows.baseAddress!, scales: scales.baseAddress!, rows: vectors.count,
                                       dimension: dimension, query: Int4Codes.Query(codes: queryCodes, scale: queryScale))
            }
        }
        let errors = zip(vectors, found).map { vector, score in
            abs(Double(score) - zip(vector, query).reduce(0) { $0 + Double($1.0) * Double($1.1) })
        }
        // Half a step of a random unit vector's codes is about 0.015 a value; summed over 384
        // values against a unit query the error is about 0.008.
        #expect(errors.max()! < 0.04)
        #expect(errors.reduce(0, +) / Double(errors.count) < 0.012)
    }

    @Test func aMappedSnapshotFindsWhatTheExactInt8ScanFinds() throws {
        // Twenty times the first pass's 1,000 candidates, so it prunes.
        let dimension = 384, count = 20_000
        var generator = SeededGenerator(seed: 8)
        let index = VectorIndex(dimension: dimension)
        let technologies = ["swift", "go"]
        for row in 0..<count {
            index.upsert(id: String(format: "r%05d", row), technology: technologies[row % 2],
                         vector: randomUnitVector(dimension: dimension, using: &generator))
        }
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("v").path
            try VectorSnapshotWriter.write(index.snapshotRows(), journalSequence: 0, journalChunkID: "", storeID: "test", to: path)
            let mapped = VectorIndex(snapshot: try VectorSnapshot(path: path))
            var found = 0, wanted = 0
            for query in 0..<40 {
                let vector = randomUnitVector(dimension: dimension, using: &generator)
                let technology = query % 4 == 3 ? "go" : nil
                let exact = index.search(query: vector, limit: 10, technology: technology)
                let pruned = mapped.search(query: vector, limit: 10, technology: technology)
                #expect(pruned.count == 10)
                if let technology { #expect(pruned.allSatisfy { mapped.technology(for: $0.id) == technology }) }
                found += Set(pruned.map(\.id)).intersection(exact.map(\.id)).count
                wanted += exact.count
            }
            #expect(Double(found) / Double(wanted) >= 0.99)
        }
    }
}
