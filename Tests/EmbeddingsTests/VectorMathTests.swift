import CKernels
import Foundation
import Testing

@testable import Embeddings

@Suite("Vector kernels")
struct VectorMathTests {
    @Test("exp: relative error below 1e-6 from -80 to 80, in every variant (baseline, AVX2, AVX-512)",
          arguments: [0, 1, 2] as [Int32])
    func exp(level: Int32) {
        let inputs = stride(from: Float(-80), through: 80, by: 0.0137).map { $0 }
        var outputs = [Float](repeating: 0, count: inputs.count)
        CKernels_exp(level, inputs, &outputs, inputs.count)
        let worst = zip(inputs, outputs).map { abs(Double($1) - Foundation.exp(Double($0))) / Foundation.exp(Double($0)) }.max()!
        #expect(worst < 1e-6)
    }

    @Test("bias + GELU: within 1e-6 of x·Φ(x) computed with libm's erf in double precision")
    func gelu() {
        // Rows of an odd width, so both the vector body and the scalar tail are checked.
        let columns = 37
        let values = stride(from: Float(-12), through: 12, by: 0.00377).map { $0 }
        let rows = values.count / columns
        let bias = (0..<columns).map { Float($0) * 0.001 }
        var data = Array(values.prefix(rows * columns))
        data.withUnsafeMutableBufferPointer { buffer in
            VectorMath.addBias(buffer.baseAddress!, rows: rows, columns: columns, stride: columns, bias: bias, gelu: true)
        }
        var worst = 0.0
        for index in 0..<(rows * columns) {
            let x = Double(values[index] + bias[index % columns])
            let reference = 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
            worst = max(worst, abs(Double(data[index]) - reference))
        }
        #expect(worst < 1e-6)
    }

    @Test("bias without GELU is a plain addition that respects the row stride")
    func biasOnly() {
        var data: [Float] = [1, 2, 3, 100, 4, 5, 6, 200]
        VectorMath.addBias(&data, rows: 2, columns: 3, stride: 4, bias: [10, 20, 30], gelu: false)
        #expect(data == [11, 22, 33, 100, 14, 25, 36, 200])
    }

    @Test("softmax rows (exponentials times their normaliser) sum to one, keep order and survive large inputs")
    func softmax() {
        for columns in [1, 3, 8, 17, 240] {
            var row = (0..<columns).map { Float($0 % 7) * 13.0 - 40 }
            row[0] = 1e4  // would overflow without the max shift
            let input = row
            var inverseSum: Float = .nan
            row.withUnsafeMutableBufferPointer { buffer in
                VectorMath.exponentiateRows(buffer.baseAddress!, rows: 1, columns: columns, inverseSums: &inverseSum)
            }
            row = row.map { $0 * inverseSum }
            #expect(abs(row.reduce(0, +) - 1) < 1e-5)
            #expect(row.allSatisfy { $0.isFinite && $0 >= 0 })
            for i in 1..<max(1, columns) where input[i] > input[max(0, i - 1)] && i > 1 {
                #expect(row[i] >= row[i - 1])
            }
        }
    }

    @Test("LayerNorm with a residual matches a double-precision reference")
    func layerNorm() {
        let columns = 37
        let rows = 3
        let input = (0..<(rows * columns)).map { Float(sin(Double($0))) * 3 }
        let residual = (0..<(rows * columns)).map { Float(cos(Double($0) * 0.7)) }
        let weight = (0..<columns).map { 1 + Float($0) * 0.01 }
        let bias = (0..<columns).map { Float($0) * -0.02 }
        var output = [Float](repeating: 0, count: rows * columns)
        output.withUnsafeMutableBufferPointer { out in
            VectorMath.layerNorm(input: input, residual: residual, output: out.baseAddress!, rows: rows, columns: columns,
                                 weight: weight, bias: bias, epsilon: 1e-12)
        }
        for row in 0..<rows {
            let values = (0..<columns).map { Double(input[row * columns + $0] + residual[row * columns + $0]) }
            let mean = values.reduce(0, +) / Double(columns)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(columns)
            for column in 0..<columns {
                let expected = (values[column] - mean) / (variance + 1e-12).squareRoot() * Double(weight[column]) + Double(bias[column])
                #expect(abs(Double(output[row * columns + column]) - expected) < 1e-5)
            }
        }
    }

    @Test("partRange covers every index exactly once with aligned boundaries")
    func partitions() {
        for count in [0, 1, 7, 16, 100, 1153] {
            for parts in 1...5 {
                var covered: [Int] = []
                for part in 0..<parts {
                    let range = partRange(part, of: parts, count: count, alignment: 8)
                    if range.lowerBound < count && part > 0 { #expect(range.lowerBound % 8 == 0) }
                    covered.append(contentsOf: range)
                }
                #expect(covered == Array(0..<count))
            }
        }
    }
}
