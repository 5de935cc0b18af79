import CKernels
@testable import EmbeddedVectors
import Testing
import TestSupport

/// The pieces of a search's first pass: the selection of the k-th largest score, the rows the
/// pass keeps, and the int8 products of the rows it picked.
@Suite struct Int8ScanTests {
    @Test func theKthLargestIsFoundWhateverTheOrderAndTies() {
        var generator = SeededGenerator(seed: 12)
        // Below and above the size where a sample narrows the selection first.
        for count in [1, 2, 7, 1000, 4096, 4097, 5000, 20_000] {
            let orders: [(String, [Float])] = [
                ("random", (0..<count).map { _ in Float.random(in: -1...1, using: &generator) }),
                ("few values", (0..<count).map { _ in Float(Int.random(in: 0..<5, using: &generator)) }),
                ("ascending", (0..<count).map(Float.init)),
                ("descending", (0..<count).map { Float(count - $0) }),
                ("constant", [Float](repeating: 0.5, count: count)),
            ]
            for (name, values) in orders {
                let sorted = values.sorted(by: >)
                for k in Set([1, 2, count / 10, count / 2, count - 1, count].filter { $0 >= 1 && $0 <= count }) {
                    var copy = values
                    #expect(ScoreSelection.largest(k, of: &copy) == sorted[k - 1], "\(name), \(count) values, k = \(k)")
                }
            }
        }
    }

    @Test func aSampleThatMisleadsTheFirstPassOnlyCostsTime() {
        // Every row the sample reads scores high and the rest low: fewer than `limit` clear its bar.
        let count = 8192
        let step = count / ScoreSelection.sampleSize
        let scores = (0..<count).map { $0 % step == 0 ? Float(1) : Float($0) / Float(count) * 0.5 }
        let technology = [Int32](repeating: 0, count: count)
        technology.withUnsafeBufferPointer { technology in
            for limit in [10, 2000, 5000] {
                let kept = Int8Scan.kept(limit: limit, scores: scores, technology: technology, wanted: nil)
                let best = Int8Scan.best(limit: limit, scores: scores, technology: technology, wanted: nil, isBefore: <)
                #expect(kept.count == limit && kept == best.sorted(), "limit \(limit)")
            }
        }
    }

    @Test func theFirstPassKeepsWhatTheHeapWouldHave() {
        var generator = SeededGenerator(seed: 31)
        // Past 4 × 1,024 rows a sample sets the bar.
        for count in [0, 3, 50, 3000, 9000, 40_000] {
            // Scores with many ties; labels 0 and 1, and rows gone (-1).
            let scores = (0..<count).map { _ in Float(Int.random(in: 0..<40, using: &generator)) / 40 }
            let technology = (0..<count).map { _ in Int32.random(in: -1...1, using: &generator) }
            for wanted in [nil, 0, 1] as [Int32?] {
                for limit in [1, 10, 1000, 5000] {
                    technology.withUnsafeBufferPointer { technology in
                        let kept = Int8Scan.kept(limit: limit, scores: scores, technology: technology, wanted: wanted)
                        let best = Int8Scan.best(limit: limit, scores: scores, technology: technology, wanted: wanted, isBefore: <)
                        #expect(kept == best.sorted(), "\(count) rows, label \(String(describing: wanted)), limit \(limit)")
                    }
                }
            }
        }
    }

    @Test func aNaNScoreRanksLast() {
        let scores: [Float] = [0.5, .nan, 0.1, .nan, 0.9, 0.3]
        let technology = [Int32](repeating: 0, count: scores.count)
        technology.withUnsafeBufferPointer { technology in
            #expect(Int8Scan.kept(limit: 3, scores: scores, technology: technology, wanted: nil) == [0, 4, 5])
            #expect(Int8Scan.kept(limit: 5, scores: scores, technology: technology, wanted: nil) == [0, 1, 2, 4, 5])
        }
    }

    @Test(arguments: [0, 1, 2] as [Int32])
    func productsOfPickedRowsAreThoseOfTheWholeScan(level: Int32) {
        var generator = SeededGenerator(seed: 7)
        for dimension in [5, 64, 90, 384, 401] {
            let count = 300
            let codes = (0..<count * dimension).map { _ in Int8.random(in: -127...127, using: &generator) }
            let query = (0..<dimension).map { _ in Int8.random(in: -127...127, using: &generator) }
            var all = [Int32](repeating: 0, count: count)
            codes.withUnsafeBufferPointer { codes in
                CKernels_dot_i8(level, codes.baseAddress, 0, count, Int32(dimension), query, &all)
            }
            // Scattered, repeated, and the last row, whose end is the buffer's.
            let picked = (0..<200).map { _ in Int.random(in: 0..<count, using: &generator) } + [count - 1, 0, count - 1]
            let scales = [Float](repeating: 1, count: count)
            let found = codes.withUnsafeBufferPointer { codes in
                scales.withUnsafeBufferPointer { scales in
                    Int8Scan.similarities(of: picked, codes: codes.baseAddress!, scales: scales.baseAddress!, dimension: dimension,
                                          query: query, queryScale: 1, instructionSet: level)
                }
            }
            #expect(found == picked.map { Float(all[$0]) }, "dimension \(dimension)")
        }
    }
}
