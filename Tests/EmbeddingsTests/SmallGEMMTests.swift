import COpenBLAS
import CKernels
import Foundation
import Testing

@testable import Embeddings

@Suite("Packed small-row matrix kernel")
struct SmallGEMMTests {
    /// Deterministic values in [-1, 1).
    private func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)
        }
    }

    @Test("agrees with cblas_sgemm for every row count up to 40 and odd panel ranges",
          arguments: [(16, 7), (48, 384), (384, 384), (1152, 384), (384, 1536)])
    func matchesOpenBLAS(outputs: Int, inputs: Int) throws {
        try #require(CKernels_small_gemm_available() == 1, "this CPU lacks AVX2/FMA; the kernel is not used here")
        let weight = values(outputs * inputs, seed: UInt64(outputs * 31 + inputs))
        var packed = [Float](repeating: .nan, count: outputs * inputs)
        CKernels_pack_panels(weight, Int32(outputs), Int32(inputs), &packed)
        let panels = outputs / 16
        for rows in [1, 2, 3, 5, 6, 7, 8, 13, 18, 31, 40] {
            let input = values(rows * inputs, seed: UInt64(rows))
            var expected = [Float](repeating: 0, count: rows * outputs)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputs), Int32(inputs),
                        1, input, Int32(inputs), weight, Int32(inputs), 0, &expected, Int32(outputs))
            // Computed in two pieces split at an odd panel, as a thread split could.
            var actual = [Float](repeating: .nan, count: rows * outputs)
            let split = panels / 2 | 1
            CKernels_small_gemm(input, Int32(rows), Int32(inputs), packed, 0, Int32(min(split, panels)), &actual, Int32(outputs))
            CKernels_small_gemm(input, Int32(rows), Int32(inputs), packed, Int32(min(split, panels)), Int32(panels), &actual, Int32(outputs))
            let worst = zip(expected, actual).map { abs($0 - $1) }.max() ?? .nan
            // Sums of `inputs` products of values below 1: the two only differ in summation order.
            #expect(worst <= 1e-5 * Float(inputs).squareRoot(), "rows \(rows): max diff \(worst)")
        }
    }

    @Test("a single query and the same text inside a large batch embed alike (packed kernel vs OpenBLAS)")
    func pathsAgree() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory())
        let query = "How do I configure the connection pool timeout for Redis?"
        let filler = (0..<40).map { "filler text number \($0) about something else entirely" }
        let alone = try embedder.embedBlocking([query])[0]
        let batched = try embedder.embedBlocking(filler + [query]).last!
        #expect(maxAbsDifference(alone, batched) <= 1e-5)
    }
}
