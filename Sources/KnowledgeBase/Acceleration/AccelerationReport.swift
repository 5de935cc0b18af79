import Dispatch
import Embeddings
import Foundation
import GPURuntime

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
    /// `MCP_RAG_DEVICE`: auto, cpu, hip or cuda.
    public var devicePreference: String
    public var runtimes: [GPUProbe.Runtime]
    /// The serving backend timed now, when it is the CPU; nil when no benchmark was asked for.
    public var cpu: Measurement?
    /// The same when a GPU serves.
    public var gpu: Measurement?
    /// The startup benchmark (64 texts of 128 word pieces) per backend, the CPU first, with each
    /// GPU's agreement with the CPU's vectors; empty when no GPU could be compared.
    public var startupBenchmark: [BackendSelector.Trial]
    /// The best GPU's sentences/s over the CPU's in the startup benchmark; nil without both.
    public var speedup: Double?
    /// How the GPU kernels were obtained, when a GPU serves.
    public var kernelCache: String?
    /// Set when `MCP_RAG_DEVICE` asks for a GPU that cannot serve, or a serving GPU failed later.
    public var error: String?
    public var detail: String

    enum CodingKeys: String, CodingKey {
        case selectedBackend = "selected_backend"
        case gpuAvailable = "gpu_available"
        case devicePreference = "device_preference"
        case startupBenchmark = "startup_benchmark"
        case kernelCache = "kernel_cache"
        case runtimes, cpu, gpu, speedup, error, detail
    }
}

extension KnowledgeBaseEngine {
    /// Texts and word pieces of the fixed benchmark batch.
    static let benchmarkBatch = (texts: 32, tokens: 128)

    /// What the accelerator chose and why and, when `runBenchmark`, the serving backend timed on a
    /// fixed batch now.
    ///
    /// The batch runs at bulk priority, so a query arriving meanwhile still goes first.
    func accelerationReport(runBenchmark: Bool) async throws -> AccelerationReport {
        let model = try await embeddings.model()
        guard let embedder = model.local else {
            return AccelerationReport(
                selectedBackend: model.backendName, gpuAvailable: false, devicePreference: accelerator.current.preference.rawValue,
                runtimes: [], cpu: nil, gpu: nil, startupBenchmark: [], speedup: nil, kernelCache: nil, error: nil,
                detail: "the embeddings come from the API at \(model.location); this process runs no model")
        }
        // The choice is a bulk job queued when the runtime started; one queued after it returns
        // once it is made (a GPU's compile and benchmark take seconds).
        var state = accelerator.current
        for _ in 0..<3 where !state.settled {
            _ = try await embeddings.onEmbeddingThread(priority: .bulk) { _ in true }
            state = accelerator.current
        }
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
            let serving = embedder.servingBackend
            let cpuThreads = ((serving as? FailoverBackend)?.fallback ?? serving) as? CPUBackend
            measurement = .init(backend: embedder.backend.name, threads: cpuThreads?.threadCount ?? 1, batchSize: shape.texts,
                                tokensPerText: shape.tokens, sentencesPerSecond: Double(shape.texts) / best,
                                singleQueryMs: queryTimes[queryTimes.count / 2])
        }
        let onGPU = embedder.backend.name != "cpu"
        let failure = accelerator.gpuFailure
        let cpuSpeed = state.trials.first?.sentencesPerSecond
        let bestGPU = state.trials.dropFirst().filter(\.correct).compactMap(\.sentencesPerSecond).max()
        let kernels = state.kernels.map { kernels in
            kernels.fromCache ? "loaded from the cache (\(kernels.entry))"
                : String(format: "compiled in %.2f s, cached as %@", kernels.seconds, kernels.entry)
        }
        let failureText = failure?.summary
        return AccelerationReport(
            selectedBackend: embedder.backend.name, gpuAvailable: state.runtimes.contains(where: \.usable),
            devicePreference: state.preference.rawValue, runtimes: state.runtimes,
            cpu: onGPU ? nil : measurement, gpu: onGPU ? measurement : nil, startupBenchmark: state.trials,
            speedup: cpuSpeed.flatMap { cpu in bestGPU.map { $0 / cpu } }, kernelCache: onGPU ? kernels : nil,
            error: state.error ?? failureText,
            detail: state.settled ? state.reason : "the GPU is still being probed; embeddings run on the \(embedder.backend.name) meanwhile")
    }
}
