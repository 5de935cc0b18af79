import Foundation

/// Vectorised element-wise kernels for the encoder: exp, exact-erf GELU, softmax and LayerNorm.
///
/// Everything works on 8-lane SIMD vectors with a scalar tail (wider vectors spill registers when
/// the build targets baseline x86-64, which measured 1.5× slower overall); the transcendental functions are
/// polynomial approximations accurate to a few float ulps, because calling libm per element would
/// cost as much as the matrix products (a 240-token batch needs over a hundred million exps).
enum VectorMath {
    typealias Vector = SIMD8<Float>
    typealias IntVector = SIMD8<Int32>
    static let lanes = Vector.scalarCount

    // MARK: exp

    /// e^x for every lane; relative error below 2e-7 for x in [-87, 88], 0-ish below that.
    @inline(__always)
    static func exp(_ input: Vector) -> Vector {
        // Clamped with `replacing` rather than `clamped(lowerBound:upperBound:)`, which the compiler
        // leaves as a generic call in the hot loop.
        let low = Vector(repeating: -87.0)
        let high = Vector(repeating: 88.0)
        var x = input.replacing(with: low, where: input .< low)
        x = x.replacing(with: high, where: x .> high)
        // Round x·log2(e) to the nearest integer n by adding 1.5·2²³: the sum's low mantissa bits
        // are n itself, which avoids a float-to-int conversion the compiler might not vectorise.
        let shifter = Vector(repeating: 12_582_912.0)
        let shifted = x * Vector(repeating: 1.442_695_04) + shifter
        let n = shifted - shifter
        // r = x − n·ln2 in two steps (Cody–Waite) so that r keeps its low bits; |r| ≤ ln2/2.
        var r = x - n * Vector(repeating: 0.693_359_375)
        r = r - n * Vector(repeating: -2.121_944_4e-4)
        // Taylor series of e^r to degree 7: the first omitted term is below 6e-9 relative.
        var p = Vector(repeating: 1.0 / 5040.0)
        p = p * r + Vector(repeating: 1.0 / 720.0)
        p = p * r + Vector(repeating: 1.0 / 120.0)
        p = p * r + Vector(repeating: 1.0 / 24.0)
        p = p * r + Vector(repeating: 1.0 / 6.0)
        p = p * r + Vector(repeating: 0.5)
        p = p * r + Vector(repeating: 1.0)
        p = p * r + Vector(repeating: 1.0)
        // 2^n built directly in the exponent field.
        let nBits = unsafeBitCast(shifted, to: IntVector.self) &- 0x4B40_0000
        let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: Vector.self)
        return p * scale
    }

    // MARK: GELU

    /// GELU with the exact error function, x·½·(1 + erf(x/√2)), as PyTorch's default `gelu`.
    ///
    /// erf comes from Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), which needs one exp and
    /// one division per lane.
    @inline(__always)
    static func gelu(_ x: Vector) -> Vector {
        let z = x.replacing(with: -x, where: x .< 0) * Vector(repeating: 0.707_106_781_186_547_5)
        let t = Vector(repeating: 1.0) / (Vector(repeating: 1.0) + Vector(repeating: 0.327_591_1) * z)
        var poly = Vector(repeating: 1.061_405_429)
        poly = poly * t + Vector(repeating: -1.453_152_027)
        poly = poly * t + Vector(repeating: 1.421_413_741)
        poly = poly * t + Vector(repeating: -0.284_496_736)
        poly = poly * t + Vector(repeating: 0.254_829_592)
        poly = poly * t
        let erfAbs = Vector(repeating: 1.0) - poly * exp(Vector(repeating: 0) - z * z)
        let erf = erfAbs.replacing(with: -erfAbs, where: x .< 0)
        return Vector(repeating: 0.5) * x * (Vector(repeating: 1.0) + erf)
    }

    /// Scalar GELU for the tail of a row, through the same vector code so every element rounds alike.
    @inline(__always)
    static func gelu(_ x: Float) -> Float {
        gelu(Vector(repeating: x))[0]
    }

    /// Adds `bias` to each of `rows` rows of `columns` values (row stride `stride`), applying GELU
    /// afterwards when `activate` is set.
    static func addBias(
        _ data: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int,
        bias: UnsafePointer<Float>, gelu activate: Bool
    ) {
        let vectorEnd = columns - columns % lanes
        for row in 0..<rows {
            let line = data + row * stride
            var column = 0
            while column < vectorEnd {
                var value = UnsafeRawPointer(line + column).loadUnaligned(as: Vector.self)
                value += UnsafeRawPointer(bias + column).loadUnaligned(as: Vector.self)
                if activate { value = gelu(value) }
                UnsafeMutableRawPointer(line + column).storeBytes(of: value, as: Vector.self)
                column += lanes
            }
            while column < columns {
                let value = line[column] + bias[column]
                line[column] = activate ? gelu(value) : value
                column += 1
            }
        }
    }

    // MARK: softmax

    /// Softmax of each of `rows` rows of length `columns`, in place.
    static func softmaxRows(_ data: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        let inverseSums = UnsafeMutablePointer<Float>.allocate(capacity: max(rows, 1))
        defer { inverseSums.deallocate() }
        exponentiateRows(data, rows: rows, columns: columns, inverseSums: inverseSums)
        for row in 0..<rows {
            scale(data + row * columns, count: columns, by: inverseSums[row])
        }
    }

    /// The first two thirds of a softmax: each row becomes `exp(x − max(row))`, and `inverseSums[row]`
    /// receives the factor that would normalise it.
    ///
    /// Attention applies that factor to the (much narrower) product of the row with V instead of to
    /// the row itself, which saves a full pass over the scores.
    static func exponentiateRows(
        _ data: UnsafeMutablePointer<Float>, rows: Int, columns: Int, inverseSums: UnsafeMutablePointer<Float>
    ) {
        let vectorEnd = columns - columns % lanes
        for row in 0..<rows {
            let line = data + row * columns
            var maxima = Vector(repeating: -.infinity)
            var column = 0
            while column < vectorEnd {
                let value = UnsafeRawPointer(line + column).loadUnaligned(as: Vector.self)
                maxima = maxima.replacing(with: value, where: value .> maxima)
                column += lanes
            }
            var maximum = maxima.max()
            while column < columns {
                maximum = Swift.max(maximum, line[column])
                column += 1
            }
            let shift = Vector(repeating: maximum)
            var sums = Vector(repeating: 0)
            column = 0
            while column < vectorEnd {
                let value = exp(UnsafeRawPointer(line + column).loadUnaligned(as: Vector.self) - shift)
                UnsafeMutableRawPointer(line + column).storeBytes(of: value, as: Vector.self)
                sums += value
                column += lanes
            }
            var total = sums.sum()
            while column < columns {
                let value = exp(Vector(repeating: line[column] - maximum))[0]
                line[column] = value
                total += value
                column += 1
            }
            inverseSums[row] = 1 / total
        }
    }

    /// Multiplies `count` values by `factor`, in place.
    static func scale(_ data: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        let vectorEnd = count - count % lanes
        let factors = Vector(repeating: factor)
        var index = 0
        while index < vectorEnd {
            let value = UnsafeRawPointer(data + index).loadUnaligned(as: Vector.self) * factors
            UnsafeMutableRawPointer(data + index).storeBytes(of: value, as: Vector.self)
            index += lanes
        }
        while index < count {
            data[index] *= factor
            index += 1
        }
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
