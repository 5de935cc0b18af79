import CKernels
import COpenBLAS
import Dispatch
import Embeddings
import Foundation
import KnowledgeBase

#if canImport(Glibc)
import Glibc
#endif

/// One measured figure of the embedding benchmark.
public struct ThroughputResult: Sendable, Codable {
    /// Word pieces per text, `[CLS]` and `[SEP]` included.
    public var tokensPerText: Int
    /// Texts per call.
    public var batchSize: Int
    /// Sentences embedded per second (tokenisation included).
    public var sentencesPerSecond: Double
    /// Word pieces per second.
    public var tokensPerSecond: Double
    /// Model FLOPs per second, from ``ModelCost``.
    public var effectiveGFLOPS: Double
}

/// The sgemm rate on one of the encoder's layer shapes.
public struct GEMMResult: Sendable, Codable {
    /// `m×k · k×n`.
    public var m: Int, k: Int, n: Int
    /// Billions of FLOPs per second.
    public var gflops: Double
}

/// Everything `mcp-rag bench` reports.
public struct EmbeddingBenchmarkReport: Sendable, Codable {
    public var backend: String
    public var threads: Int
    public var blasCore: String
    /// The kernels OpenBLAS had chosen before the startup correction replaced them; nil when kept.
    public var blasCoreReplaced: String?
    public var modelLoadMilliseconds: Double
    public var gemm: [GEMMResult]
    /// The FLOP-weighted sgemm rate over the layer shapes: what the dense layers could reach where
    /// OpenBLAS computes them.
    public var gemmGFLOPS: Double
    /// mcp-rag's packed kernel ("packed AVX-512") where it computes the CPU's products of batches
    /// because its vectors are wider than OpenBLAS's kernels; nil where OpenBLAS computes them.
    public var packedBatchKernel: String?
    /// That kernel's FLOP-weighted rate over the layer shapes; nil where OpenBLAS computes batches.
    public var packedBatchKernelGFLOPS: Double?
    public var throughput: [ThroughputResult]
    public var singleQueryTokens: Int
    public var singleQueryP50Milliseconds: Double
    public var singleQueryP99Milliseconds: Double
    public var tokenizerTokensPerSecond: Double
    public var peakResidentMegabytes: Double
}

/// Measures the CPU embedding path: the matrix-product rate on the layer shapes, embedding
/// throughput, single-query latency, tokenizer speed, model load time and peak memory.
public struct EmbeddingBenchmark: Sendable {
    /// Seconds each throughput figure is measured over, split into ``trials`` runs.
    public var secondsPerMeasurement: Double = 3
    /// Timed runs per throughput figure; the best is reported.
    public var trials = 5
    /// Texts per batch for the throughput figures.
    public var batchSize = 32
    /// Lengths (in word pieces) measured for throughput.
    public var lengths = [32, 240]
    /// Single-query repetitions.
    public var queryRepetitions = 300

    /// A benchmark with the default settings.
    public init() {}

    /// Runs every measurement against the model `model` names, on its device. The sgemm figures
    /// are the CPU's either way. Throws `ConfigurationError` when the model cannot be loaded there.
    public func run(_ model: ModelSelection) throws -> EmbeddingBenchmarkReport {
        let (modelDirectory, threads) = (try model.locate(), model.threads)
        // Load twice and keep the second figure: the first mostly measures the page cache.
        let cpuEmbedder: SentenceEmbedder
        do {
            _ = try SentenceEmbedder(directory: modelDirectory, threads: threads)
            cpuEmbedder = try SentenceEmbedder(directory: modelDirectory, threads: threads)
        } catch let error as ModelLoadError {
            throw ConfigurationError(error.description)
        }
        let threadCount = (cpuEmbedder.backend as? CPUBackend)?.threadCount ?? 1
        let embedder = try model.onDevice(cpuEmbedder)
        let cost = ModelCost(configuration: embedder.configuration)

        let gemm = measureGEMM(configuration: embedder.configuration, rows: 2048, threads: threadCount, packed: false)
        // Only where the CPU runs the batches being measured: a GPU's are its own.
        let packedBatchKernel = (embedder.backend as? CPUBackend)?.packedBatchKernel
        let packedGEMM = packedBatchKernel.map { _ in
            measureGEMM(configuration: embedder.configuration, rows: 2048, threads: threadCount, packed: true)
        }

        let generator = BenchmarkTexts(tokenizer: embedder.tokenizer, maxLength: embedder.configuration.maxSequenceLength)
        var throughput: [ThroughputResult] = []
        for length in lengths {
            let texts = generator.texts(count: batchSize * 8, tokens: length)
            let sentences = try sentencesPerSecond(texts: texts, batchSize: batchSize, embedder: embedder)
            throughput.append(ThroughputResult(
                tokensPerText: length, batchSize: batchSize, sentencesPerSecond: sentences,
                tokensPerSecond: sentences * Double(length),
                effectiveGFLOPS: sentences * cost.flops(tokens: length) / 1e9))
        }

        let query = "How do I configure the connection pool timeout for Redis?"
        let queryTokens = embedder.tokenize(query).count
        for _ in 0..<20 { _ = try embedder.embedBlocking([query]) }
        var latencies: [Double] = []
        for _ in 0..<queryRepetitions {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try embedder.embedBlocking([query])
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        latencies.sort()

        let tokenizerRate = Tokenizer.benchmarkTokensPerSecond(tokenizer: embedder.tokenizer)

        return EmbeddingBenchmarkReport(
            backend: embedder.backend.name, threads: threadCount,
            blasCore: BLASKernels.current, blasCoreReplaced: BLASKernels.replaced,
            modelLoadMilliseconds: embedder.loadSeconds * 1000,
            gemm: gemm, gemmGFLOPS: weightedRate(gemm),
            packedBatchKernel: packedBatchKernel, packedBatchKernelGFLOPS: packedGEMM.map(weightedRate),
            throughput: throughput,
            singleQueryTokens: queryTokens,
            singleQueryP50Milliseconds: nearestRank(latencies, 0.50),
            singleQueryP99Milliseconds: nearestRank(latencies, 0.99),
            tokenizerTokensPerSecond: tokenizerRate,
            peakResidentMegabytes: peakResidentMegabytes())
    }

    /// Sentences per second over `texts` in batches, the best of ``trials`` timed runs.
    private func sentencesPerSecond(texts: [String], batchSize: Int, embedder: SentenceEmbedder) throws -> Double {
        let batches = stride(from: 0, to: texts.count, by: batchSize).map { Array(texts[$0..<min($0 + batchSize, texts.count)]) }
        _ = try embedder.embedBlocking(batches[0])  // warm-up: scratch buffers, page faults
        var index = 0
        return try bestRate(seconds: secondsPerMeasurement) {
            let batch = batches[index % batches.count]
            index += 1
            _ = try embedder.embedBlocking(batch)
            return Double(batch.count)
        }
    }

    /// The highest rate (units per second) of ``trials`` runs of `work`, each repeated for an equal
    /// share of `seconds`. On a shared machine, other tenants only ever slow a run down, so the
    /// best run is the one closest to what the code itself can do.
    private func bestRate(seconds: Double, _ work: () throws -> Double) rethrows -> Double {
        var best = 0.0
        for _ in 0..<trials {
            var units = 0.0
            let start = DispatchTime.now().uptimeNanoseconds
            var elapsed = 0.0
            repeat {
                units += try work()
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            } while elapsed < seconds / Double(trials)
            best = max(best, units / elapsed)
        }
        return best
    }

    /// The FLOP-weighted rate over `shapes`: each shape's FLOPs over the time it takes.
    private func weightedRate(_ shapes: [GEMMResult]) -> Double {
        let flops = shapes.reduce(0.0) { $0 + 2 * Double($1.m * $1.k * $1.n) }
        let seconds = shapes.reduce(0.0) { $0 + 2 * Double($1.m * $1.k * $1.n) / ($1.gflops * 1e9) }
        return flops / seconds / 1e9
    }

    /// The rate of OpenBLAS's sgemm, or of the packed kernel when `packed`, on the four dense shapes
    /// of a layer for `rows` rows, split across `threads` exactly as the encoder splits them.
    private func measureGEMM(configuration c: ModelConfiguration, rows: Int, threads: Int, packed: Bool) -> [GEMMResult] {
        let shapes = [(c.hiddenSize, 3 * c.hiddenSize), (c.hiddenSize, c.hiddenSize),
                      (c.hiddenSize, c.intermediateSize), (c.intermediateSize, c.hiddenSize)]
        let pool = WorkerPool(threadCount: threads)
        return shapes.map { k, n in
            let a = UnsafeMutablePointer<Float>.allocate(capacity: rows * k)
            let b = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
            let panels = UnsafeMutablePointer<Float>.allocate(capacity: packed ? n * k : 0)
            let out = UnsafeMutablePointer<Float>.allocate(capacity: rows * n)
            defer { a.deallocate(); b.deallocate(); panels.deallocate(); out.deallocate() }
            for i in 0..<(rows * k) { a[i] = Float(i % 7) * 0.01 }
            for i in 0..<(n * k) { b[i] = Float(i % 5) * 0.01 }
            if packed { CKernels_pack_panels(b, Int32(n), Int32(k), panels) }
            let run = {
                if packed {
                    PackedProduct.multiply(a, rows: rows, inputs: k, packed: panels, outputs: n, into: out, pool: pool)
                    return
                }
                pool.run(parts: threads) { part in
                    let range = partRange(part, of: threads, count: rows, alignment: 1)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(range.count), Int32(n), Int32(k),
                                1, a + range.lowerBound * k, Int32(k), b, Int32(k), 0, out + range.lowerBound * n, Int32(n))
                }
            }
            run()
            let flopsPerSecond = bestRate(seconds: min(1, secondsPerMeasurement)) {
                run()
                return 2 * Double(rows * k * n)
            }
            return GEMMResult(m: rows, k: k, n: n, gflops: flopsPerSecond / 1e9)
        }
    }

}

/// The process's peak resident memory so far, in megabytes.
public func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024  // Linux reports kilobytes
}
