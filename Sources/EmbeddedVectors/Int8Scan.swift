import CKernels
import Dispatch
import Foundation

/// The int8 form of a vector: each row is its vector divided by a scale of its own (its largest
/// magnitude over 127) and rounded, a quarter of the float32 size, so a scan streams a quarter of
/// the bytes.
enum Int8Codes {
    /// `vector` as int8 codes and the scale that turns them back into values: the largest
    /// magnitude maps to ±127. A zero vector gets zero codes (and scale 0).
    static func quantize(_ vector: [Float]) -> (codes: [Int8], scale: Float) {
        let largest = vector.reduce(Float(0)) { max($0, abs($1)) }
        guard largest > 0, largest.isFinite else { return ([Int8](repeating: 0, count: vector.count), 0) }
        let inverse = 127 / largest
        // Clamped, and NaN taken as 0, so no value can trap the conversion.
        return (vector.map { value in
            let scaled = value * inverse
            return scaled.isNaN ? 0 : Int8(min(127, max(-127, scaled)).rounded())
        }, largest / 127)
    }
}

/// Splits a scan over the rows of a matrix between the cores: a large matrix is scanned by every
/// core at once, each over its own range of rows.
enum RowPartition {
    /// Rows a scan covers on one thread; larger matrices are split over every core.
    static let rowsPerThread = 65_536

    /// Calls `body` with ranges that together cover `0..<rows` once, side by side on several
    /// threads when there are more than `rowsPerThread` rows.
    static func run(rows: Int, _ body: @Sendable (Range<Int>) -> Void) {
        // The core count only when there is something to split: on Linux, Foundation reads it
        // from the scheduler and the cgroup files on every call.
        guard rows > rowsPerThread else {
            body(0..<rows)
            return
        }
        let parts = min(ProcessInfo.processInfo.activeProcessorCount, (rows + rowsPerThread - 1) / rowsPerThread)
        guard parts > 1 else {
            body(0..<rows)
            return
        }
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            body(rows * part / parts ..< rows * (part + 1) / parts)
        }
    }
}

/// Scores the rows of an int8 matrix against a quantized query: the int8 products summed exactly,
/// then both scales applied.
enum Int8Scan {
    /// The approximate dot product of each of `rows` rows of `codes` (row-major, `dimension` wide)
    /// with the query whose codes are `query` and scale `queryScale`, spread over every core for a
    /// large matrix, with the kernel for `instructionSet` (see `CKernels_isa`; by default this CPU's widest).
    static func similarities(codes: UnsafePointer<Int8>, scales: UnsafePointer<Float>, rows: Int, dimension: Int,
                             query: [Int8], queryScale: Float, instructionSet: Int32 = CKernels_isa()) -> [Float] {
        var products = [Int32](repeating: 0, count: rows)
        query.withUnsafeBufferPointer { query in
            products.withUnsafeMutableBufferPointer { products in
                let pointers = SendablePointers(matrix: codes, query: query.baseAddress!, out: products.baseAddress!)
                RowPartition.run(rows: rows) { range in
                    CKernels_dot_i8(instructionSet, pointers.matrix, range.lowerBound, range.upperBound, Int32(dimension), pointers.query, pointers.out)
                }
            }
        }
        return (0..<rows).map { Float(products[$0]) * scales[$0] * queryScale }
    }

    /// The approximate dot product of each of `rows` (row numbers of `codes`, `dimension` wide)
    /// with the query: for the few candidates a first pass kept, each row fetched ahead of its
    /// product (scattered rows are misses to memory, which took most of the time of these products).
    static func similarities(of rows: [Int], codes: UnsafePointer<Int8>, scales: UnsafePointer<Float>, dimension: Int,
                             query: [Int8], queryScale: Float, instructionSet: Int32 = CKernels_isa()) -> [Float] {
        var products = [Int32](repeating: 0, count: rows.count)
        query.withUnsafeBufferPointer { query in
            rows.withUnsafeBufferPointer { picked in
                CKernels_dot_i8_picked(instructionSet, codes, picked.baseAddress, picked.count, Int32(dimension),
                                       query.baseAddress!, &products)
            }
        }
        return rows.indices.map { Float(products[$0]) * scales[rows[$0]] * queryScale }
    }

    /// The scan's buffers, handed to its threads; each writes only its own range of `out`.
    private struct SendablePointers: @unchecked Sendable {
        let matrix: UnsafePointer<Int8>
        let query: UnsafePointer<Int8>
        let out: UnsafeMutablePointer<Int32>
    }

    /// The best `limit` of `rows` rows by `scores`, best first, among those whose technology code
    /// is `wanted` (any code ≥ 0 when nil; a negative code marks a row gone). Ties go to the row
    /// `isBefore` puts first.
    static func best(limit: Int, scores: [Float], technology: UnsafeBufferPointer<Int32>, wanted: Int32?,
                     isBefore: @escaping (Int, Int) -> Bool) -> [Int] {
        selection(limit: limit, scores: scores, technology: technology, wanted: wanted, isBefore: isBefore).sortedBestFirst()
    }

    /// The rows `best` returns when ties go to the smaller row, in row order: for a first pass,
    /// whose candidates are ranked again by other scores.
    ///
    /// A heap of a thousand, as `best` keeps, took a quarter of the search of 11,000 rows. Here a sample
    /// of the rows sets a bar that most rows fall below and at least `limit` very likely clear;
    /// the rows that clear it are then selected exactly. The same rows either way: should fewer
    /// than `limit` clear the bar, every row takes part.
    static func kept(limit: Int, scores: [Float], technology: UnsafeBufferPointer<Int32>, wanted: Int32?) -> [Int] {
        guard limit > 0 else { return [] }
        // Any code ≥ 0 takes part when no label is wanted; a negative code marks a row gone.
        let lowest = wanted ?? 0, highest = wanted ?? Int32.max
        return scores.withUnsafeBufferPointer { scores in
            func takesPart(_ row: Int) -> Bool { technology[row] >= lowest && technology[row] <= highest }
            // A NaN score ranks as -infinity: `best`'s order has no place for one.
            func value(_ row: Int) -> Float { scores[row].isNaN ? -.infinity : scores[row] }
            // From every `step`-th row: the rank where the limit-th best falls among them,
            // lowered by several standard deviations.
            var bar = -Float.infinity
            let step = scores.count / ScoreSelection.sampleSize
            if step >= 4 {
                var sample = stride(from: 0, to: scores.count, by: step).filter(takesPart).map(value)
                let expected = Double(limit) / Double(step)
                let rank = Int(expected + 4 * expected.squareRoot() + 8)
                if rank <= sample.count { bar = ScoreSelection.largest(rank, of: &sample) }
            }
            var cleared: [Int] = []
            for row in scores.indices where value(row) >= bar && takesPart(row) { cleared.append(row) }
            if cleared.count < limit && bar > -.infinity { cleared = scores.indices.filter(takesPart) }
            guard cleared.count > limit else { return cleared }
            var values = cleared.map(value)
            let bottom = ScoreSelection.largest(limit, of: &values)
            // Of the rows tied at the limit-th score, those first in row order make up the count.
            var tiesTaken = limit - values.reduce(0) { $0 + ($1 > bottom ? 1 : 0) }
            return cleared.filter { row in
                let score = value(row)
                if score > bottom { return true }
                guard score == bottom, tiesTaken > 0 else { return false }
                tiesTaken -= 1
                return true
            }
        }
    }

    private static func selection(limit: Int, scores: [Float], technology: UnsafeBufferPointer<Int32>, wanted: Int32?,
                                  isBefore: @escaping (Int, Int) -> Bool) -> TopKSelector<Int> {
        var selector = TopKSelector<Int>(capacity: min(limit, scores.count)) { first, second in
            scores[first] > scores[second] || (scores[first] == scores[second] && isBefore(first, second))
        }
        // Most rows of a large index score below the worst kept: one comparison with a local
        // copy of its score turns them away, before their label is even read.
        var bar = -Float.infinity
        scores.withUnsafeBufferPointer { scores in
            for row in scores.indices where !(scores[row] < bar) {
                let code = technology[row]
                if let wanted { if code != wanted { continue } } else if code < 0 { continue }
                selector.offer(row)
                if let worst = selector.worstKeptWhenFull { bar = scores[worst] }
            }
        }
        return selector
    }
}

/// Selection of the k-th largest value, without sorting the rest.
enum ScoreSelection {
    /// Rows in the sample that sets a first pass's bar (see `Int8Scan.kept`).
    static let sampleSize = 1024

    /// The `k`-th largest of `values` (1 ≤ `k` ≤ its count; no NaN), which it reorders: quickselect
    /// with a three-way partition (ties settle in one step) around the median of three, in
    /// expected linear time; should the partitions keep coming out lopsided, what is left is sorted.
    static func largest(_ k: Int, of values: inout [Float]) -> Float {
        precondition(k >= 1 && k <= values.count, "the \(k)th largest of \(values.count) values")
        return values.withUnsafeMutableBufferPointer { values in
            // Positions in descending order: the answer is the value that belongs at `target`.
            let target = k - 1
            var low = 0, high = values.count - 1
            var rounds = 0
            while low < high {
                rounds += 1
                if rounds > 64 {
                    values[low...high].sort(by: >)
                    return values[target]
                }
                let middle = low + (high - low) / 2
                let pivot = median(values[low], values[middle], values[high])
                // [low, greater) above the pivot, [greater, index) equal, (smaller, high] below.
                var greater = low, index = low, smaller = high
                while index <= smaller {
                    if values[index] > pivot {
                        values.swapAt(greater, index)
                        greater += 1
                        index += 1
                    } else if values[index] < pivot {
                        values.swapAt(index, smaller)
                        smaller -= 1
                    } else {
                        index += 1
                    }
                }
                if target < greater {
                    high = greater - 1
                } else if target > smaller {
                    low = smaller + 1
                } else {
                    return pivot
                }
            }
            return values[target]
        }
    }

    private static func median(_ a: Float, _ b: Float, _ c: Float) -> Float {
        max(min(a, b), min(max(a, b), c))
    }
}
