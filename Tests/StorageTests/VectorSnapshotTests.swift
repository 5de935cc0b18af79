@testable import EmbeddedVectors
import Foundation
@testable import SQLiteLedger
import Testing
import TestSupport

/// The snapshot file by itself: what it holds, how an index serves from it and from the changes
/// made since, and how a damaged file is refused.
@Suite struct VectorSnapshotTests {
    private let dimension = 16
    private let technologies = ["swift", "rust", "go"]

    /// An in-memory index of `rows` random rows, ids `r000`…, labels taken in turn.
    private func randomIndex(rows: Int, seed: UInt64 = 7) -> VectorIndex {
        var generator = SeededGenerator(seed: seed)
        let index = VectorIndex(dimension: dimension)
        // Inserted out of id order: the file must sort them.
        for row in (0..<rows).shuffled(using: &generator) {
            index.upsert(id: String(format: "r%03d", row), technology: technologies[row % technologies.count],
                         vector: randomUnitVector(dimension: dimension, using: &generator))
        }
        return index
    }

    private func write(_ index: VectorIndex, to path: String, sequence: Int = 0) throws -> VectorSnapshot {
        try VectorSnapshotWriter.write(index.snapshotRows(), journalSequence: sequence, journalChunkID: "", storeID: "test",
                                       to: path)
        return try VectorSnapshot(path: path)
    }

    /// Both indexes answer every query (with and without each filter) with the same ids and scores.
    private func expectSameSearches(_ index: VectorIndex, _ expected: VectorIndex, queries: Int = 30) {
        var generator = SeededGenerator(seed: 99)
        #expect(index.count == expected.count)
        for _ in 0..<queries {
            let query = randomUnitVector(dimension: dimension, using: &generator)
            for technology in [nil] + technologies.map(Optional.some) + ["none"] {
                let found = index.search(query: query, limit: 7, technology: technology)
                let wanted = expected.search(query: query, limit: 7, technology: technology)
                #expect(found.map(\.id) == wanted.map(\.id), "filter \(technology ?? "none")")
                #expect(found.map(\.score) == wanted.map(\.score))
            }
        }
    }

    @Test func aMappedSnapshotSearchesLikeTheIndexItWasWrittenFrom() throws {
        try withTemporaryDirectory { directory in
            let index = randomIndex(rows: 300)
            let snapshot = try write(index, to: directory.appendingPathComponent("v").path, sequence: 42)
            #expect(snapshot.rowCount == 300)
            #expect(snapshot.journalSequence == 42)
            #expect(snapshot.storeID == "test")
            #expect((0..<300).map(snapshot.id(at:)) == (0..<300).map { String(format: "r%03d", $0) }, "rows in id order")
            #expect(snapshot.row(of: "r123") == 123)
            #expect(snapshot.row(of: "r1234") == nil)
            #expect(snapshot.row(of: "") == nil)

            let mapped = VectorIndex(snapshot: snapshot)
            #expect(mapped.rowsOutsideSnapshot == 0)
            #expect(mapped.mappedBytes == snapshot.byteCount - 300 * dimension * MemoryLayout<Float>.size,
                    "all but the float32 vectors, which are read as needed")
            #expect(mapped.technology(for: "r004") == "rust")
            #expect(mapped.contains("r299") && !mapped.contains("r300"))
            expectSameSearches(mapped, index)
        }
    }

    @Test func vectorsThatCannotBeReadLeaveTheInt8Scores() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("v").path
            let index = VectorIndex(snapshot: try write(randomIndex(rows: 40), to: path))
            var generator = SeededGenerator(seed: 5)
            let query = randomUnitVector(dimension: dimension, using: &generator)
            let exact = index.search(query: query, limit: 5, technology: nil)
            // The file's float32 vectors gone from under the mapping (files are only ever replaced,
            // never cut short: this stands in for a disk that fails to read).
            #expect(truncate(path, off_t(index.mappedBytes)) == 0)
            let degraded = index.search(query: query, limit: 5, technology: nil)
            let approximate = index.approximateSearch(query: query, limit: VectorIndex.rescoredCandidates(limit: 5), technology: nil)
            #expect(degraded.map(\.score) == Array(approximate.prefix(5).map(\.score)), "the int8 scores, best first")
            #expect(degraded.map(\.score) != exact.map(\.score))
        }
    }

    @Test func aLargeSnapshotChoosesCandidatesByTheir4BitCodesFirst() throws {
        try withTemporaryDirectory { directory in
            // Enough rows that the first pass keeps fewer than an eighth of them.
            let rows = 8 * Int4Codes.firstPassCandidates(limit: VectorIndex.rescoredCandidates(limit: 7)) + 1
            let index = randomIndex(rows: rows)
            let mapped = VectorIndex(snapshot: try write(index, to: directory.appendingPathComponent("v").path))
            expectSameSearches(mapped, index, queries: 10)
        }
    }

    @Test func changesAfterTheSnapshotAreServedFromMemory() throws {
        try withTemporaryDirectory { directory in
            let expected = randomIndex(rows: 200)
            let mapped = VectorIndex(snapshot: try write(expected, to: directory.appendingPathComponent("v").path))
            for index in [expected, mapped] {
                var local = SeededGenerator(seed: 3)
                for row in 0..<20 { index.remove(String(format: "r%03d", row * 7)) }
                for row in 190..<230 {  // ten replaced, thirty new
                    index.upsert(id: String(format: "r%03d", row), technology: "kotlin",
                                 vector: randomUnitVector(dimension: dimension, using: &local))
                }
                index.setTechnology("swift", for: "r001")
                #expect(index.remove("r000") == false, "already removed")
                #expect(index.setTechnology("go", for: "r000") == false)
            }
            // 20 removed, 10 replaced (marked gone, held in memory), 30 new, 1 relabelled.
            #expect(mapped.rowsOutsideSnapshot == 20 + 10 + 40 + 1)
            #expect(mapped.technology(for: "r001") == "swift")
            #expect(mapped.technology(for: "r195") == "kotlin")
            #expect(!mapped.contains("r007"))
            expectSameSearches(mapped, expected)

            // A snapshot written from both parts holds the same rows again.
            let rewritten = VectorIndex(snapshot: try write(mapped, to: directory.appendingPathComponent("w").path))
            #expect(rewritten.rowsOutsideSnapshot == 0)
            expectSameSearches(rewritten, expected)
        }
    }

    @Test func changesMadeWhileASnapshotIsWrittenAreCarriedOverOntoIt() throws {
        try withTemporaryDirectory { directory in
            var generator = SeededGenerator(seed: 11)
            let vectors = (0..<7).map { _ in randomUnitVector(dimension: dimension, using: &generator) }
            let expected = randomIndex(rows: 120)
            let index = VectorIndex(snapshot: try write(expected, to: directory.appendingPathComponent("v").path))
            for target in [index, expected] { target.upsert(id: "r500", technology: "go", vector: vectors[0]) }
            let copy = index.snapshotRows()
            // While the file is written: a mapped row removed, one relabelled, one replaced, a
            // held row removed, new rows added under a new label.
            for target in [index, expected] {
                target.remove("r010")
                target.setTechnology("zig", for: "r011")
                target.upsert(id: "r012", technology: "swift", vector: vectors[1])
                target.remove("r500")
                for row in 0..<5 { target.upsert(id: "r60\(row)", technology: "nim", vector: vectors[2 + row]) }
            }
            let path = directory.appendingPathComponent("w").path
            try VectorSnapshotWriter.write(copy, journalSequence: 0, journalChunkID: "", storeID: "test", to: path)
            #expect(index.adoptWrittenSnapshot(try VectorSnapshot(path: path)))
            #expect(index.adoptWrittenSnapshot(try VectorSnapshot(path: path)) == false, "one copy, one adoption")
            #expect(try VectorSnapshot(path: path).row(of: "r500") != nil, "the copy was taken before r500 went")
            // r010 gone; r011 (relabelled) and r012 (replaced) each gone from the file and held in
            // memory; r500 gone from the file; five new.
            #expect(index.rowsOutsideSnapshot == 1 + 2 + 2 + 1 + 5)
            #expect(index.technology(for: "r011") == "zig")
            expectSameSearches(index, expected)
        }
    }

    @Test func damagedFilesAreRefusedWithAReason() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("v").path
            _ = try write(randomIndex(rows: 50), to: path)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let header = VectorSnapshotHeader(dimension: dimension, rows: 50, journalSequence: 0, idBytes: 200,
                                              labelCount: 3, labelBytes: 11, markerBytes: 0, storeIDBytes: 4)
            let layout = header.layout
            #expect(layout.totalBytes == bytes.count, "the header's layout spans the file")

            func refused(_ damaged: Data, because reason: String) throws {
                let damagedPath = directory.appendingPathComponent("damaged").path
                try damaged.write(to: URL(fileURLWithPath: damagedPath))
                #expect {
                    _ = try VectorSnapshot(path: damagedPath)
                } throws: { error in
                    "\(error)".contains(reason)
                }
            }
            try refused(bytes.prefix(bytes.count - 1), because: "where its header implies")
            try refused(bytes.prefix(20), because: "shorter than its header")
            try refused(Data("not a snapshot".utf8) + bytes.dropFirst(14), because: "not a vector snapshot file")
            var outOfRange = bytes
            outOfRange[layout.technology] = 9  // row 0 names label 9 of 3
            try refused(outOfRange, because: "names label 9")
            var unscaled = bytes
            unscaled.replaceSubrange(layout.int4Scales + 4 ..< layout.int4Scales + 8, with: withUnsafeBytes(of: Float.nan) { Data($0) })
            try refused(unscaled, because: "row 1 has no finite scale")
            var older = bytes
            older[8] = 2  // the format field, after the 8-byte magic: a file of format 2 has no float32 vectors
            try refused(older, because: "format 2, this build reads 3")
            var unordered = bytes
            unordered[layout.idBytes + 1] = UInt8(ascii: "9")  // "r000" becomes "r900"
            try refused(unordered, because: "ids out of order")
            #expect(throws: VectorSnapshotError.self) { _ = try VectorSnapshot(path: directory.appendingPathComponent("absent").path) }
        }
    }

    @Test func theJournalPositionIsReadFromTheHeaderAlone() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("v").path
            #expect(VectorSnapshot.journalSequence(ofFileAt: path) == nil, "no file")
            _ = try write(randomIndex(rows: 50), to: path, sequence: 4_321)
            #expect(VectorSnapshot.journalSequence(ofFileAt: path) == 4_321)
            // The rest of the file is not read: a truncated body still gives the header's figure, and
            // the full opening (which a newer figure leads to) refuses it.
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            try bytes.prefix(VectorSnapshotLayout.headerBytes).write(to: URL(fileURLWithPath: path))
            #expect(VectorSnapshot.journalSequence(ofFileAt: path) == 4_321)
            #expect(throws: VectorSnapshotError.self) { _ = try VectorSnapshot(path: path) }
            try Data("not a snapshot at all, but long enough to fill a header of 128 bytes".utf8 + [UInt8](repeating: 32, count: 100))
                .write(to: URL(fileURLWithPath: path))
            #expect(VectorSnapshot.journalSequence(ofFileAt: path) == nil, "not a snapshot")
            try bytes.prefix(64).write(to: URL(fileURLWithPath: path))
            #expect(VectorSnapshot.journalSequence(ofFileAt: path) == nil, "shorter than a header")
        }
    }

    @Test func thePolicyWritesLargeStoresAtGrowingIntervals() {
        let policy = VectorSnapshotPolicy(minimumRows: 10_000, maximumRowsOutside: 50_000)
        #expect(!policy.isDue(rows: 9_999, outside: 9_999), "a small store keeps its vectors in memory")
        #expect(policy.isDue(rows: 10_000, outside: 10_000), "a store reaching the minimum gets its first file")
        #expect(!policy.isDue(rows: 100_000, outside: 24_999))
        #expect(policy.isDue(rows: 100_000, outside: 25_000), "a quarter of the rows")
        #expect(!policy.isDue(rows: 1_000_000, outside: 49_999))
        #expect(policy.isDue(rows: 1_000_000, outside: 50_000), "at most maximumRowsOutside")
        #expect(!policy.isDue(rows: 1_000_000, outside: 0))
    }
}
