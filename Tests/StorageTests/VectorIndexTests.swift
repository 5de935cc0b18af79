import CKernels
@testable import EmbeddedVectors
import Testing
import TestSupport

@Suite struct VectorIndexTests {
    private static let technologies = ["swift", "postgres", "redis"]

    /// An index of `count` random unit vectors, technologies in turn, with the same rows as a list.
    private func makeIndex(count: Int, dimension: Int, seed: UInt64) -> (VectorIndex, [Row]) {
        var generator = SeededGenerator(seed: seed)
        let index = VectorIndex(dimension: dimension)
        var rows: [Row] = []
        for row in 0..<count {
            let entry: Row = (id: "chunk-\(row)", technology: Self.technologies[row % 3],
                              vector: randomUnitVector(dimension: dimension, using: &generator))
            index.upsert(id: entry.id, technology: entry.technology, vector: entry.vector)
            rows.append(entry)
        }
        return (index, rows)
    }

    private typealias Row = (id: String, technology: String, vector: [Float])

    private func dot(_ first: [Float], _ second: [Float]) -> Double {
        var sum = 0.0
        for (a, b) in zip(first, second) { sum += Double(a) * Double(b) }
        return sum
    }

    /// The expected scores: every row scored in double precision and fully sorted, best first.
    private func bruteForceScores(_ rows: [Row], query: [Float], limit: Int, technology: String?) -> [Double] {
        let eligible = rows.filter { technology == nil || $0.technology == technology }
        let scores = eligible.map { dot($0.vector, query) }
        return Array(scores.sorted(by: >).prefix(max(0, limit)))
    }

    @Test(arguments: [(1, 1), (7, 3), (50, 10), (50, 50), (300, 5), (300, 400), (1000, 25)])
    func theScanMatchesBruteForceToWithinTheQuantization(count: Int, limit: Int) throws {
        let dimension = 24
        let (index, rows) = makeIndex(count: count, dimension: dimension, seed: UInt64(count * 31 + limit))
        let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0) })
        var generator = SeededGenerator(seed: 99)
        for technology in [nil, "swift", "redis"] as [String?] {
            let query = randomUnitVector(dimension: dimension, using: &generator)
            let found = index.approximateSearch(query: query, limit: limit, technology: technology)
            let expected = bruteForceScores(rows, query: query, limit: limit, technology: technology)
            // int8 scores: each within the rounding of 24 products, and the k-th best score found
            // within that of the true k-th best (rows whose scores are that close may swap).
            #expect(found.count == expected.count)
            #expect(Set(found.map(\.id)).count == found.count)
            for (result, score) in zip(found, expected) {
                let row = try #require(byID[result.id])
                #expect(abs(dot(row.vector, query) - result.score) < 0.02)
                #expect(abs(result.score - score) < 0.04)
                if let technology { #expect(row.technology == technology) }
            }
        }
    }

    @Test(arguments: [(1, 1), (7, 3), (50, 10), (300, 5), (1000, 25)])
    func searchesReturnTheExactBestWithExactScores(count: Int, limit: Int) throws {
        let dimension = 24
        let (index, rows) = makeIndex(count: count, dimension: dimension, seed: UInt64(count * 7 + limit))
        var generator = SeededGenerator(seed: 5)
        for technology in [nil, "swift", "redis"] as [String?] {
            let query = randomUnitVector(dimension: dimension, using: &generator)
            let eligible = rows.filter { technology == nil || $0.technology == technology }
            let scores = Dictionary(uniqueKeysWithValues: eligible.map { ($0.id, dot($0.vector, query)) })
            let expected = eligible.map(\.id).sorted { scores[$0]! > scores[$1]! || (scores[$0]! == scores[$1]! && $0 < $1) }
            let found = index.search(query: query, limit: limit, technology: technology)
            #expect(found.map(\.id) == Array(expected.prefix(limit)))
            #expect(found.map(\.score) == found.map { scores[$0.id]! }, "the float32 vectors' dot product, in double precision")
        }
    }

    @Test func theExactBestAreAmongTheCandidatesRescored() {
        // 384 values, as the model's vectors: the rounding error per score is about 1e-3.
        let (index, rows) = makeIndex(count: 4000, dimension: 384, seed: 17)
        var generator = SeededGenerator(seed: 3)
        var kept = 0
        for _ in 0..<50 {
            let query = randomUnitVector(dimension: 384, using: &generator)
            let scores = rows.map { dot($0.vector, query) }
            let exact = Set(rows.indices.sorted { scores[$0] > scores[$1] }.prefix(10).map { rows[$0].id })
            let candidates = Set(index.approximateSearch(query: query, limit: VectorIndex.rescoredCandidates(limit: 10),
                                                         technology: nil).map(\.id))
            kept += exact.intersection(candidates).count
        }
        #expect(kept == 500)
    }

    @Test func quantizationKeepsTheLargestValueAndRefusesNothing() {
        let (codes, scale) = Int8Codes.quantize([0.5, -0.25, 0, 0.125])
        #expect(codes == [127, -64, 0, 32])
        #expect(abs(scale - 0.5 / 127) < 1e-9)
        #expect(Int8Codes.quantize([0, 0]).codes == [0, 0])
        #expect(Int8Codes.quantize([.nan, 1]).codes == [0, 127])
    }

    @Test func scoresAreDotProducts() {
        let index = VectorIndex(dimension: 3)
        index.upsert(id: "x", technology: "t", vector: [1, 0, 0])
        index.upsert(id: "y", technology: "t", vector: [0, 1, 0])
        index.upsert(id: "d", technology: "t", vector: [0.6, 0.8, 0])
        let found = index.search(query: [0.6, 0.8, 0], limit: 3, technology: nil)
        #expect(found.map(\.id) == ["d", "y", "x"])
        #expect(abs(found[0].score - 1) < 0.01)
        #expect(abs(found[1].score - 0.8) < 0.01)
        #expect(abs(found[2].score - 0.6) < 0.01)
    }

    @Test func tiesGoToTheSmallerID() {
        let index = VectorIndex(dimension: 2)
        for id in ["c", "a", "d", "b"] { index.upsert(id: id, technology: "t", vector: [1, 0]) }
        #expect(index.search(query: [1, 0], limit: 3, technology: nil).map(\.id) == ["a", "b", "c"])
    }

    @Test func emptyIndexAndDegenerateLimits() {
        let index = VectorIndex(dimension: 4)
        #expect(index.count == 0)
        #expect(index.search(query: [1, 0, 0, 0], limit: 10, technology: nil).isEmpty)
        index.upsert(id: "a", technology: "t", vector: [1, 0, 0, 0])
        #expect(index.search(query: [1, 0, 0, 0], limit: 0, technology: nil).isEmpty)
        #expect(index.search(query: [1, 0, 0, 0], limit: -1, technology: nil).isEmpty)
        #expect(index.search(query: [1, 0, 0, 0], limit: 10, technology: nil).map(\.id) == ["a"])
        #expect(index.search(query: [1, 0, 0, 0], limit: 10, technology: "unknown").isEmpty)
    }

    @Test func removeSwapsTheLastRowIn() {
        let (index, rows) = makeIndex(count: 20, dimension: 8, seed: 5)
        #expect(index.remove("chunk-3"))
        #expect(!index.remove("chunk-3"))
        #expect(index.remove("chunk-19"))  // the last row itself
        #expect(index.count == 18)
        #expect(!index.contains("chunk-3"))
        for row in rows where row.id != "chunk-3" && row.id != "chunk-19" {
            #expect(index.contains(row.id))
            #expect(index.technology(for: row.id) == row.technology)
            // Each remaining vector is its own best match.
            #expect(index.search(query: row.vector, limit: 1, technology: nil).first?.id == row.id)
        }
        for row in rows { _ = index.remove(row.id) }
        #expect(index.count == 0)
        #expect(index.search(query: rows[0].vector, limit: 5, technology: nil).isEmpty)
    }

    @Test func upsertReplacesInPlaceAndRelabels() {
        let index = VectorIndex(dimension: 2)
        index.upsert(id: "a", technology: "swift", vector: [1, 0])
        index.upsert(id: "a", technology: "redis", vector: [0, 1])
        #expect(index.count == 1)
        #expect(index.search(query: [0, 1], limit: 1, technology: nil).first?.score ?? 0 > 0.99)
        #expect(index.search(query: [0, 1], limit: 1, technology: "swift").isEmpty)
        #expect(index.setTechnology("swift", for: "a"))
        #expect(!index.setTechnology("swift", for: "missing"))
        #expect(index.search(query: [0, 1], limit: 1, technology: "swift").map(\.id) == ["a"])
    }

    @Test func memoryGrowsByFiveBytesAValue() {
        let index = VectorIndex(dimension: 384)
        let empty = index.memoryBytes
        index.reserveCapacity(100)
        #expect(index.memoryBytes >= empty + 100 * (384 * 5 + 4), "int8 codes and float32 vectors")
        #expect(index.memoryBytes < empty + 100 * 384 * 6)
    }

    @Test(arguments: [0, 1, 2])
    func everyInstructionSetGivesTheSameScores(level: Int32) {
        let (index, rows) = makeIndex(count: 300, dimension: 384 + 7, seed: 11)
        let query = rows[5].vector
        let best = index.approximateSearch(query: query, limit: 20, technology: nil, instructionSet: 2)
        #expect(index.approximateSearch(query: query, limit: 20, technology: nil, instructionSet: level) == best)
    }

    @Test func aLargeIndexIsScannedOnSeveralThreadsWithTheSameResult() {
        let count = RowPartition.rowsPerThread * 2 + 123
        let (index, rows) = makeIndex(count: count, dimension: 32, seed: 23)
        let query = rows[count - 1].vector
        let found = index.search(query: query, limit: 5, technology: nil)
        #expect(found.first?.id == rows[count - 1].id, "the row in the last part is found")
        #expect(found.count == 5)
    }
}
