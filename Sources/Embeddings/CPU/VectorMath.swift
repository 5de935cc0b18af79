import CKernels
import Foundation

/// Element-wise kernels for the encoder: bias + GELU and the softmax's exponentials (in CKernels, whose variants use
/// the CPU's widest vectors: they are the costly ones), LayerNorm and scaling (here, in Swift).
///
/// The Swift loops use 8-lane SIMD vectors with a scalar tail; wider vectors spill registers when
/// the build targets baseline x86-64.
enum VectorMath {
    typealias Vector = SIMD8<Float>
    static let lanes = Vector.scalarCount

    // MARK: bias and GELU

    /// Adds `bias` to each of `rows` rows of `columns` values (row stride `stride`), applying
    /// exact-erf GELU afterwards when `activate` is set. Runs the CKernels variant for
    /// `instructionSet` (see `CKernels_isa`; by default this CPU's widest vectors).
    static func addBias(
        _ data: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int,
        bias: UnsafePointer<Float>, gelu activate: Bool, instructionSet: Int32 = CKernels_isa()
    ) {
        CKernels_bias_gelu(instructionSet, data, Int32(rows), Int32(columns), Int32(stride), bias, activate ? 1 : 0)
    }

    // MARK: softmax

    /// The first two thirds of a softmax: each row becomes `exp(x − max(row))`, and `inverseSums[row]`
    /// receives the factor that would normalise it. The kernel `CKernels_attention` runs on its
    /// scores (where the factor is applied to the much narrower product of the row with V instead
    /// of to the row itself), here for its tests. `instructionSet` as for `addBias`.
    static func exponentiateRows(
        _ data: UnsafeMutablePointer<Float>, rows: Int, columns: Int, inverseSums: UnsafeMutablePointer<Float>,
        instructionSet: Int32 = CKernels_isa()
    ) {
        CKernels_exp_rows(instructionSet, data, Int32(rows), Int32(columns), inverseSums)
    }

    // MARK: LayerNorm

    /// `output[row] = LayerNorm(input[row] + residual[row])` for each row of width `columns`.
    ///
    /// `residual` may be nil; `output` may alias `input` or `residual`.
    static func layerNorm(
        input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, epsilon: Float
    ) {
        let vectorEnd = columns - columns % lanes
        for row in 0..<rows {
            let source = input + row * columns
            let extra = residual.map { $0 + row * columns }
            let target = output + row * columns
            // First pass: sum the inputs (with the residual) and write the sums out.
            var sums = Vector(repeating: 0)
            var column = 0
            while column < vectorEnd {
                var value = UnsafeRawPointer(source + column).loadUnaligned(as: Vector.self)
                if let extra { value += UnsafeRawPointer(extra + column).loadUnaligned(as: Vector.self) }
                UnsafeMutableRawPointer(target + column).storeBytes(of: value, as: Vector.self)
                sums += value
                column += lanes
            }
            var total = sums.sum()
            while column < columns {
                let value = source[column] + (extra?[column] ?? 0)
                target[column] = value
                total += value
                column += 1
            }
            let mean = total / Float(columns)
            // Second pass: variance around the mean (two-pass, as PyTorch, for accuracy).
            let means = Vector(repeating: mean)
            var squares = Vector(repeating: 0)
            column = 0
            while column < vectorEnd {
                let centred = UnsafeRawPointer(target + column).loadUnaligned(as: Vector.self) - means
                squares += centred * centred
                column += lanes
            }
            var squareTotal = squares.sum()
            while column < columns {
                let centred = target[column] - mean
                squareTotal += centred * centred
                column += 1
            }
            let inverse = 1 / (squareTotal / Float(columns) + epsilon).squareRoot()
            let inverses = Vector(repeating: inverse)
            // Third pass: normalise, scale and shift.
            column = 0
            while column < vectorEnd {
                let centred = UnsafeRawPointer(target + column).loadUnaligned(as: Vector.self) - means
                let gamma = UnsafeRawPointer(weight + column).loadUnaligned(as: Vector.self)
                let beta = UnsafeRawPointer(bias + column).loadUnaligned(as: Vector.self)
                UnsafeMutableRawPointer(target + column).storeBytes(of: centred * inverses * gamma + beta, as: Vector.self)
                column += lanes
            }
            while column < columns {
                target[column] = (target[column] - mean) * inverse * weight[column] + bias[column]
                column += 1
            }
        }
    }
}
