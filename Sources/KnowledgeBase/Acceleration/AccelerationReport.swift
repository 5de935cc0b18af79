import Dispatch
import Embeddings
import Foundation

/// What `verify_gpu_acceleration` returns: runtimes probed, the backend serving, measured speed.
public struct AccelerationReport: Sendable, Codable, Equatable {
    /// The CPU backend's measured speed.
    public struct Measurement: Sendable, Codable, Equatable {
        public var backend: String
        public var threads: Int
        /// Texts per batch and word pieces per text of the throughput run.
        public var batchSize: Int
        public var tokensPerText: Int
        public var sentencesPerSecond: Double
        /// Median time to embed one short query, in milliseconds.
        public var singleQueryMs: Double

        enum CodingKeys: String, CodingKey {
            case backend, threads
            case batchSize = "batch_size"
            case tokensPerText = "tokens_per_text"
            case sentencesPerSecond = "sentences_per_second"
            case singleQueryMs = "single_query_ms"
        }
    }

    public var selectedBackend: String
    public var gpuAvailable: Bool
    public var runtimes: [GPUProbe.Runtime]
    /// Nil when no benchmark was asked for.
    public var cpu: Measurement?
    /// The GPU's figures; nil until a GPU backend exists and is found.
    public var gpu: Measurement?
    /// GPU sentences/s over CPU sentences/s; nil without both.
    public var speedup: Double?
    public var detail: String

    enum CodingKeys: String, CodingKey {
        case selectedBackend = "selected_backend"
        case gpuAvailable = "gpu_available"
        case runtimes, cpu, gpu, speedup, detail
    }
}

extension KnowledgeBaseRuntime {
    /// Texts and word pieces of the fixed benchmark batch.
    static let benchmarkBatch = (texts: 32, tokens: 128)

    /// Probes the GPU runtimes and, when `runBenchmark`, times the serving backend on a fixed batch.
    ///
    /// The batch runs at bulk priority, so a query arriving meanwhile still goes first.
    public func accelerationReport(runBenchmark: Bool) async throws -> AccelerationReport {
        let runtimes = GPUProbe.probe()
        let embedder = try await embeddings.embedder()
        var measurement: AccelerationReport.Measurement?
        if runBenchmark {
            let shape = Self.benchmarkBatch
            let generator = BenchmarkTexts(tokenizer: embedder.tokenizer, maxLength: embedder.configuration.maxSequenceLength)
            let batch = generator.texts(count: shape.texts, tokens: shape.tokens)
            _ = try await embeddings.embed(Array(batch.prefix(4)), priority: .bulk)  // warm caches and threads
            var best = Double.infinity
            for _ in 0..<3 {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try await embeddings.embed(batch, priority: .bulk)
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            var queryTimes: [Double] = []
            for _ in 0..<15 {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try await embeddings.embed(["how do I configure the connection pool timeout?"], priority: .interactive)
                queryTimes.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            queryTimes.sort()
            measurement = .init(backend: embedder.backend.name, threads: (embedder.backend as? CPUBackend)?.threadCount ?? 1, batchSize: shape.texts,
                                tokensPerText: shape.tokens, sentencesPerSecond: Double(shape.texts) / best,
                                singleQueryMs: queryTimes[queryTimes.count / 2])
        }
        return AccelerationReport(
            selectedBackend: embedder.backend.name, gpuAvailable: runtimes.contains(where: \.usable), runtimes: runtimes,
            cpu: measurement, gpu: nil, speedup: nil,
            detail: "embeddings run on the \(embedder.backend.name); no GPU backend is usable (see runtimes for why)")
    }
}
