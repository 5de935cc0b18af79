import COpenBLAS
import CKernels
import Foundation
import Synchronization
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
          .enabled(if: CKernels_small_gemm_available() == 1, "the CPU lacks AVX2/FMA, so the kernel is never used"),
          arguments: [(16, 7), (48, 384), (384, 384), (1152, 384), (384, 1536)])
    func matchesOpenBLAS(outputs: Int, inputs: Int) throws {
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
            let isa = CKernels_isa()
            CKernels_small_gemm(isa, input, Int32(rows), Int32(inputs), packed, 0, Int32(min(split, panels)), &actual, Int32(outputs))
            CKernels_small_gemm(isa, input, Int32(rows), Int32(inputs), packed, Int32(min(split, panels)), Int32(panels), &actual, Int32(outputs))
            let worst = zip(expected, actual).map { abs($0 - $1) }.max() ?? .nan
            // Sums of `inputs` products of values below 1: the two only differ in summation order.
            #expect(worst <= 1e-5 * Float(inputs).squareRoot(), "rows \(rows): max diff \(worst)")
        }
    }

    @Test("a single query and the same text inside a large batch embed alike (packed kernel vs OpenBLAS)")
    func pathsAgree() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory())
        let viaOpenBLAS = CPUBertEncoder(weights: embedder.weights, threadCount: 2, batchKernel: .openBLAS)
        #expect(!viaOpenBLAS.batchesUsePackedKernel)
        let query = "How do I configure the connection pool timeout for Redis?"
        let filler = (0..<40).map { "filler text number \($0) about something else entirely" }
        let alone = try embedder.embedBlocking([query])[0]
        let batched = viaOpenBLAS.encode(embedder.tokenizeAll(filler + [query], for: .passages)).last!
        #expect(maxAbsDifference(alone, batched) <= 1e-5)
    }

    @Test("batches go through the packed kernel only where its vectors are wider than OpenBLAS's kernels")
    func batchKernelChoice() {
        #expect(CPUBertEncoder.packedKernelIsWider(packedLevel: 2, blasLevel: 1))
        #expect(!CPUBertEncoder.packedKernelIsWider(packedLevel: 2, blasLevel: 2))
        #expect(!CPUBertEncoder.packedKernelIsWider(packedLevel: 1, blasLevel: 1))
        #expect(!CPUBertEncoder.packedKernelIsWider(packedLevel: 1, blasLevel: 2))
        // A family not known here is left to OpenBLAS.
        #expect(!CPUBertEncoder.packedKernelIsWider(packedLevel: 2, blasLevel: nil))
    }

    @Test("passages batched through the packed kernel: each the same bit for bit as alone, and as OpenBLAS's to rounding",
          .enabled(if: CKernels_small_gemm_available() == 1, "the CPU lacks AVX2/FMA, so the kernel is never used"))
    func packedBatches() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory())
        let packed = CPUBertEncoder(weights: embedder.weights, threadCount: 2, batchKernel: .packed)
        let viaOpenBLAS = CPUBertEncoder(weights: embedder.weights, threadCount: 2, batchKernel: .openBLAS)
        #expect(packed.batchesUsePackedKernel && packed.packedBatchKernel != nil)
        #expect(viaOpenBLAS.packedBatchKernel == nil)
        let cases = try goldenCases()
        let sequences = cases.map(\.inputIDs)
        // One pass far past a small pass, so that without the choice it would go through OpenBLAS.
        #expect(sequences.reduce(0) { $0 + $1.count } > 4 * CPUBertEncoder.smallPassRows)
        let together = packed.encode(sequences)
        // Queries always take the packed kernel, and this model gives passages no prompt: the
        // same vectors to the bit show that the passages' pass took it too.
        let asQueries = packed.encode(sequences, work: .queries)
        let reference = viaOpenBLAS.encode(sequences)
        for (index, golden) in cases.enumerated() {
            let label = golden.text.prefix(40).debugDescription
            // Compared as their largest difference, which the report shows, rather than as arrays.
            #expect(maxAbsDifference(together[index], asQueries[index]) == 0, "\(label)")
            #expect(maxAbsDifference(together[index], packed.encode([golden.inputIDs])[0]) == 0, "\(label)")
            #expect(maxAbsDifference(together[index], reference[index]) <= 1e-5, "\(label)")
            #expect(cosine(together[index], golden.embedding) >= 0.99999, "\(label)")
        }
    }
}

/// Each variant is asked for by its level (the kernels' `isa` argument), never through a
/// process-wide setting: kernels that other suites run meanwhile keep their own.
@Suite("Kernel variants agree")
struct KernelVariantTests {
    @Test("baseline, AVX2 and AVX-512 element-wise kernels compute the same values")
    func elementWise() {
        // Rows shorter than the softmax's 16-value chunks, with a tail, and of whole chunks.
        for columns in [7, 77, 240] {
            elementWise(columns: columns)
        }
    }

    @Test("attention for one head is softmax(scale · Q Kᵀ) V at every level, each row the same alone as with the others",
          arguments: [(m: 1, n: 1, d: 32), (m: 7, n: 7, d: 32), (m: 32, n: 32, d: 32), (m: 61, n: 61, d: 64),
                      (m: 1, n: 77, d: 32), (m: 13, n: 40, d: 24), (m: 9, n: 240, d: 80)])
    func attentionKernel(shape: (m: Int, n: Int, d: Int)) {
        let (m, n, d) = shape
        // Queries, keys and values interleaved in rows of a wider matrix, as in a layer's QKV output.
        let stride = 3 * d + 5
        let rows = max(m, n)
        let qkv = (0..<(rows * stride)).map { Float(sin(Double($0) * 0.61)) * 2 }
        let scale = 1 / Float(d).squareRoot()
        // The reference in double precision.
        var expected = [Double](repeating: 0, count: m * d)
        for i in 0..<m {
            let scores = (0..<n).map { j in
                Double(scale) * (0..<d).reduce(0.0) { $0 + Double(qkv[i * stride + $1]) * Double(qkv[j * stride + d + $1]) }
            }
            let largest = scores.max()!
            let weights = scores.map { exp($0 - largest) }
            let total = weights.reduce(0, +)
            for c in 0..<d {
                expected[i * d + c] = (0..<n).reduce(0.0) { $0 + weights[$1] * Double(qkv[$1 * stride + 2 * d + c]) } / total
            }
        }
        // Scratch and output with guard values around what the kernel may write: output rows wider
        // than a head (other heads' columns lie between), and floats past the scratch's stated size.
        let sentinel: Float = 7
        let scratchSize = CKernels_attention_scratch(Int32(m), Int32(n), Int32(d))
        var scratch = [Float](repeating: .nan, count: scratchSize + 16)
        let outStride = d + 3
        for level: Int32 in [0, 1, 2] {
            for index in scratchSize..<scratch.count { scratch[index] = sentinel }
            var out = [Float](repeating: sentinel, count: m * outStride)
            qkv.withUnsafeBufferPointer { qkv in
                let base = qkv.baseAddress!
                CKernels_attention(level, base, Int32(m), base + d, base + 2 * d, Int32(stride), Int32(n), Int32(d), scale,
                                   &scratch, &out, Int32(outStride))
            }
            let label = "level \(level), \(m)×\(n)×\(d)"
            let rows = (0..<m).map { Array(out[($0 * outStride)..<($0 * outStride + d)]) }
            let errors = rows.enumerated().flatMap { i, row in row.enumerated().map { abs(Double($1) - expected[i * d + $0]) } }
            #expect(errors.allSatisfy { $0 <= 1e-5 }, "\(label): \(errors.max() ?? .nan)")
            #expect((0..<m).allSatisfy { out[($0 * outStride + d)..<(($0 + 1) * outStride)].allSatisfy { $0 == sentinel } },
                    "\(label): written past a row's head")
            #expect(scratch[scratchSize...].allSatisfy { $0 == sentinel }, "\(label): written past the scratch")
            // The last row alone (the pooled row of the last layer) gives the same bits.
            var last = [Float](repeating: .nan, count: d)
            qkv.withUnsafeBufferPointer { qkv in
                let base = qkv.baseAddress!
                CKernels_attention(level, base + (m - 1) * stride, 1, base + d, base + 2 * d, Int32(stride), Int32(n), Int32(d),
                                   scale, &scratch, &last, Int32(d))
            }
            #expect(last == rows[m - 1], "\(label)")
        }
    }

    @Test("the softmax's maximum is taken over the whole row, its last values included")
    func softmaxMaximum() {
        // Two peaks at the row's end: read against a maximum that missed them, both would pass
        // exp's range and weigh the same, though one is e¹⁰ times the other.
        for columns in [7, 77, 240] {
            for level: Int32 in [0, 1, 2] {
                var row = [Float](repeating: -100, count: columns)
                row[columns - 1] = 100
                row[columns - 2] = 90
                var sum: Float = 0
                VectorMath.exponentiateRows(&row, rows: 1, columns: columns, inverseSums: &sum, instructionSet: level)
                let top = Double(row[columns - 1] * sum), second = Double(row[columns - 2] * sum)
                #expect(abs(top - 1 / (1 + exp(-10))) <= 1e-6, "level \(level), \(columns) columns: \(top)")
                #expect(abs(second - exp(-10) / (1 + exp(-10))) <= 1e-6, "level \(level), \(columns) columns: \(second)")
            }
        }
    }

    private func elementWise(columns: Int) {
        let rows = 9
        let input = (0..<(rows * columns)).map { Float(sin(Double($0) * 0.37)) * 9 }
        let bias = (0..<columns).map { Float($0) * 0.01 - 0.3 }
        var results: [[Float]] = []
        for level: Int32 in [0, 1, 2] {
            var gelu = input
            VectorMath.addBias(&gelu, rows: rows, columns: columns, stride: columns, bias: bias, gelu: true,
                               instructionSet: level)
            var softmax = input
            var sums = [Float](repeating: 0, count: rows)
            VectorMath.exponentiateRows(&softmax, rows: rows, columns: columns, inverseSums: &sums, instructionSet: level)
            results.append(gelu + softmax + sums)
            // Each row, scaled by its factor, is the softmax computed in double precision.
            for row in 0..<rows {
                let values = input[(row * columns)..<((row + 1) * columns)].map(Double.init)
                let largest = values.max()!
                let total = values.reduce(0) { $0 + exp($1 - largest) }
                let worst = (0..<columns).map { column in
                    abs(Double(softmax[row * columns + column] * sums[row]) - exp(values[column] - largest) / total)
                }.max()!
                #expect(worst <= 1e-6, "level \(level), \(columns) columns, row \(row): \(worst)")
            }
        }
        for other in results.dropFirst() {
            let worst = zip(results[0], other).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? .nan
            #expect(worst <= 1e-6)
        }
    }

    @Test("the OpenBLAS path and the packed kernel embed short texts alike")
    func openBLASSmallPath() throws {
        let directory = try realModelDirectory()
        let embedder = try SentenceEmbedder(directory: directory)
        let plain = CPUBertEncoder(weights: embedder.weights, threadCount: 2, smallRowKernel: false)
        #expect(plain.packedLayers == nil)
        for golden in try goldenCases() where golden.inputIDs.count <= CPUBertEncoder.smallPassRows {
            let viaOpenBLAS = plain.encode([golden.inputIDs])[0]
            let viaPacked = try embedder.embedBlocking(tokenized: [golden.inputIDs])[0]
            #expect(maxAbsDifference(viaOpenBLAS, viaPacked) <= 1e-5, "\(golden.text.debugDescription)")
            #expect(cosine(viaOpenBLAS, golden.embedding) >= 0.99999)
        }
    }

    @Test("a query's vector is the same bit for bit alone or in one pass with other queries",
          .enabled(if: CKernels_small_gemm_available() == 1, "the CPU lacks AVX2/FMA: queries go through OpenBLAS"))
    func queriesAreBatchStable() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory())
        let cases = try goldenCases()
        let sequences = cases.map(\.inputIDs)
        // Longer than a small pass, so a batch of passages would go through OpenBLAS wherever its
        // kernels are as wide as the packed kernel's.
        #expect(sequences.map(\.count).max()! > CPUBertEncoder.smallPassRows)
        let alone = try sequences.map { try embedder.backend.embed(tokenized: [$0], work: .queries)[0] }
        let together = try embedder.backend.embed(tokenized: sequences, work: .queries)
        let shuffled = Array(sequences.reversed())
        let reordered = try embedder.backend.embed(tokenized: shuffled, work: .queries).reversed()
        for (index, golden) in cases.enumerated() {
            #expect(together[index] == alone[index], "\(golden.text.debugDescription)")
            #expect(Array(reordered)[index] == alone[index], "\(golden.text.debugDescription)")
            #expect(cosine(alone[index], golden.embedding) >= 0.99999, "\(golden.text.debugDescription)")
        }
    }

    @Test("a batch of queries is split into one pass a thread only with two sequences a thread and even groups")
    func splitChoice() {
        #expect(CPUBertEncoder.split([20, 20, 20, 20], threads: 1) == nil)
        #expect(CPUBertEncoder.split([20, 20, 20], threads: 2) == nil)
        // One long query among short ones: its thread would work alone at the end.
        #expect(CPUBertEncoder.split([200, 10, 10, 10], threads: 2) == nil)
        #expect(CPUBertEncoder.split([100] + Array(repeating: 10, count: 7), threads: 4) == nil)
        let lengths = [31, 5, 12, 19, 8, 22, 14, 3, 27]
        for threads in [2, 3, 4] {
            let groups = CPUBertEncoder.split(lengths, threads: threads)
            #expect(groups?.count == threads)
            guard let groups else { continue }
            // Every sequence in exactly one group, the largest within 1.2 times the average.
            #expect(groups.flatMap { $0 }.sorted() == Array(lengths.indices))
            let tokens = groups.map { $0.reduce(0) { $0 + lengths[$1] } }
            #expect(Double(tokens.max()!) <= 1.2 * Double(lengths.reduce(0, +)) / Double(threads))
        }
    }

    @Test("queries split into passes side by side: each the same bit for bit as alone and as on one thread",
          .enabled(if: CKernels_small_gemm_available() == 1, "the CPU lacks AVX2/FMA: queries go through OpenBLAS"))
    func splitQueryBatches() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory())
        let twoThreads = CPUBertEncoder(weights: embedder.weights, threadCount: 2)
        let oneThread = CPUBertEncoder(weights: embedder.weights, threadCount: 1)
        // Queries of a few dozen word pieces, together in one pass of two threads, which splits them.
        let cases = try goldenCases().filter { $0.inputIDs.count <= 64 }
        let sequences = cases.map(\.inputIDs)
        #expect(sequences.reduce(0) { $0 + $1.count } <= twoThreads.maxTokensPerPass)
        #expect(CPUBertEncoder.split(sequences.map(\.count), threads: 2)?.count == 2)
        let split = twoThreads.encode(sequences, work: .queries)
        let unsplit = oneThread.encode(sequences, work: .queries)
        for (index, golden) in cases.enumerated() {
            let label = golden.text.prefix(40).debugDescription
            #expect(maxAbsDifference(split[index], unsplit[index]) == 0, "\(label)")
            #expect(maxAbsDifference(split[index], twoThreads.encode([golden.inputIDs], work: .queries)[0]) == 0, "\(label)")
            #expect(cosine(split[index], golden.embedding) >= 0.99999, "\(label)")
        }
    }

    @Test("query passes in lanes side by side: each the same bit for bit as in a pass over every thread",
          .enabled(if: CKernels_small_gemm_available() == 1, "the CPU lacks AVX2/FMA: queries go through OpenBLAS"))
    func queryLanes() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory())
        let encoder = CPUBertEncoder(weights: embedder.weights, threadCount: 3)
        #expect(encoder.lanes == 3)
        #expect(CPUBertEncoder(weights: embedder.weights, threadCount: 3, smallRowKernel: false).lanes == 1,
                "OpenBLAS is left to one caller at a time")
        let cases = try goldenCases()
        let sequences = cases.map(\.inputIDs)
        // Each alone: a pass spread over the three threads (a batch would be split into lanes).
        let whole = sequences.map { encoder.encode([$0], work: .queries)[0] }
        // Every lane embeds every sequence, over and over, all lanes at once.
        let byLane = Mutex<[Int: [[[Float]]]]>([:])
        DispatchQueue.concurrentPerform(iterations: encoder.lanes) { lane in
            let passes = (0..<3).map { _ in encoder.encodeQueries(sequences, lane: lane) }
            byLane.withLock { $0[lane] = passes }
        }
        let results = byLane.withLock { $0 }
        #expect(results.count == encoder.lanes)
        for (lane, passes) in results {
            for vectors in passes {
                for (index, golden) in cases.enumerated() {
                    #expect(vectors[index] == whole[index], "lane \(lane): \(golden.text.prefix(40).debugDescription)")
                }
            }
        }
    }

    @Test("the AVX2 small-row kernel agrees with the AVX-512 one",
          .enabled(if: CKernels_small_gemm_available() == 1, "the CPU lacks AVX2/FMA, so the kernel is never used"))
    func smallGEMMVariants() throws {
        let rows = 13, inputs = 384, outputs = 1152
        let weight = (0..<(outputs * inputs)).map { Float(cos(Double($0) * 0.011)) * 0.05 }
        let input = (0..<(rows * inputs)).map { Float(sin(Double($0) * 0.07)) }
        var packed = [Float](repeating: 0, count: outputs * inputs)
        CKernels_pack_panels(weight, Int32(outputs), Int32(inputs), &packed)
        var results: [[Float]] = []
        for level: Int32 in [1, 2] {
            var out = [Float](repeating: .nan, count: rows * outputs)
            CKernels_small_gemm(level, input, Int32(rows), Int32(inputs), packed, 0, Int32(outputs / 16), &out, Int32(outputs))
            results.append(out)
        }
        #expect(zip(results[0], results[1]).allSatisfy { abs($0 - $1) <= 1e-4 })
    }
}
