import Embeddings
import Foundation
import GPURuntime
import Logging
import Synchronization

/// Chooses the device that embeds, once the model has loaded: probes the GPU runtimes, sets up
/// each usable one (kernels compiled or taken from the cache, weights uploaded), runs the startup
/// benchmark batch on it and on the CPU, and installs the fastest backend whose vectors agree
/// with the CPU's. A GPU chosen serves behind a ``FailoverBackend``, so a later GPU fault moves
/// serving to the CPU without failing a query.
///
/// `MCP_RAG_DEVICE=cpu` skips all of it; `cuda` or `hip` insists on that runtime (if it is not
/// usable, or its vectors disagree, the CPU serves and the reason is reported as an error in
/// `health_check` and `verify_gpu_acceleration`).
package final class GPUAccelerator: Sendable {
    /// Where the choice stands, for reports.
    public struct State: Sendable {
        public var preference: DevicePreference
        /// False until the choice is made.
        public var settled = false
        /// Each runtime probed, with the reason it does (not) serve.
        public var runtimes: [GPUProbe.Runtime] = []
        /// The startup benchmark's runs, the CPU's first; empty when there was nothing to compare.
        public var trials: [BackendSelector.Trial] = []
        /// The device of the GPU backend chosen, if one was.
        public var device: GPUDeviceInfo?
        /// How its kernels were obtained: compiled now or loaded from the cache.
        public var kernels: (entry: String, fromCache: Bool, seconds: Double)?
        /// One sentence on what serves and why.
        public var reason: String
        /// Set when `MCP_RAG_DEVICE` asks for a GPU that cannot serve.
        public var error: String?
    }

    /// The fixed startup batch: texts and word pieces each.
    public static let benchmarkBatch = (texts: 64, tokens: 128)

    public let preference: DevicePreference
    private let search: LibrarySearch
    private let kernelCache: KernelCache
    private let logger: Logger
    private let state: Mutex<State>
    private let failover = Mutex<FailoverBackend?>(nil)

    private let amdDriverNode: String?

    /// - Parameter amdDriverNode: checked before the HIP runtime is loaded (nil: not checked, for
    ///   tests with look-alike libraries).
    public init(preference: DevicePreference, search: LibrarySearch, kernelCache: KernelCache, logger: Logger,
                amdDriverNode: String? = GPUProbe.amdDriverNode) {
        self.preference = preference
        self.amdDriverNode = amdDriverNode
        self.search = search
        self.kernelCache = kernelCache
        self.logger = logger
        state = Mutex(State(preference: preference, reason: "the GPU is probed once the model has loaded"))
    }

    public var current: State { state.withLock { $0 } }

    /// Why and when a chosen GPU stopped serving; nil while it serves or when none was chosen.
    public var gpuFailure: FailoverBackend.Failure? { failover.withLock { $0 }?.failed }

    /// Makes the choice for `embedder`, whose backend must be an ``AcceleratedBackend`` still
    /// holding the CPU's. Blocking: run it on the embedding thread, so the benchmark does not
    /// compete with queries for the cores.
    public func select(embedder: SentenceEmbedder) {
        guard let accelerated = embedder.backend as? AcceleratedBackend else { return }
        let cpu = accelerated.serving
        guard preference != .cpu else {
            settle { $0.reason = "\(DevicePreference.environmentVariable)=cpu: embeddings run on the CPU; no GPU runtime was probed" }
            return
        }
        var runtimes: [GPUProbe.Runtime] = []
        var candidates: [(backend: GPUBackend, build: KernelBuilder.Built)] = []
        for outcome in GPUProbe.probe(search: search, only: preference.requiredRuntime, amdDriverNode: amdDriverNode) {
            var runtime = outcome.runtime
            if let loaded = outcome.loaded {
                do {
                    // Both modes run the startup batch; fp16 serves only if it is faster and agrees.
                    candidates += try Self.backends(on: loaded, weights: embedder.weights, kernelCache: kernelCache,
                                                    precisions: GPUPrecision.allCases)
                } catch {
                    runtime.usable = false
                    runtime.reason = "found \(loaded.device.summary), but it could not be set up: \(error)"
                }
            }
            runtimes.append(runtime)
        }
        let required = preference.requiredRuntime
        guard !candidates.isEmpty else {
            let reasons = runtimes.map { "\($0.name): \($0.reason)" }.joined(separator: "; ")
            if let required {
                let message = Self.cannotServe(required, because: runtimes.first?.reason ?? "it was not probed")
                logger.error("the GPU asked for is not usable", metadata: ["rag.gpu.error": "\(message)"])
                settle { $0.runtimes = runtimes; $0.reason = message; $0.error = message }
            } else {
                logger.info("embeddings run on the CPU", metadata: ["rag.gpu.runtimes": "\(reasons)"])
                settle { $0.runtimes = runtimes; $0.reason = "no GPU runtime is usable, so embeddings run on the CPU (\(reasons))" }
            }
            return
        }
        let generator = BenchmarkTexts(tokenizer: embedder.tokenizer, maxLength: embedder.configuration.maxSequenceLength)
        let batch = generator.texts(count: Self.benchmarkBatch.texts, tokens: Self.benchmarkBatch.tokens).map(embedder.tokenize)
        let choice = BackendSelector.choose(cpu: cpu, candidates: candidates.map(\.backend), batch: batch)
        var chosen = choice.chosenCandidate.map { candidates[$0] }
        var reason = choice.reason
        var error: String?
        if let required, chosen == nil {
            // Asked for by name: its fastest correct mode serves, even if the CPU was faster. The
            // probe looked for that runtime alone, so every candidate is one of its modes.
            let own = choice.trials.filter { $0.candidate != nil }
            let best = own.filter(\.correct).max { ($0.sentencesPerSecond ?? 0) < ($1.sentencesPerSecond ?? 0) }
            if let best, let index = best.candidate {
                chosen = candidates[index]
                reason = "\(best.backend) serves, as \(DevicePreference.environmentVariable) asks (\(best.note ?? "chosen"))"
            } else {
                let message = Self.cannotServe(required, because: own.compactMap(\.note).first ?? "its startup benchmark did not run")
                error = message
                reason = message
            }
        }
        if let chosen {
            let logger = self.logger
            let guarded = FailoverBackend(primary: chosen.backend, fallback: cpu) { failure in
                logger.error("the GPU failed; embeddings moved to the CPU", metadata: [
                    "rag.gpu.backend": "\(failure.backend)", "rag.gpu.error": "\(failure.reason)",
                ])
            }
            failover.withLock { $0 = guarded }
            accelerated.install(guarded)
        }
        logger.info("embedding device chosen", metadata: ["rag.gpu.choice": "\(reason)"])
        let device = chosen?.backend.device.info
        let kernels = chosen.map { (entry: $0.build.entry, fromCache: $0.build.fromCache, seconds: $0.build.seconds) }
        settle { state in
            state.runtimes = runtimes
            state.trials = choice.trials
            state.device = device
            state.kernels = kernels
            state.reason = reason
            state.error = error
        }
    }

    /// `weights` on the device `loaded` found, once per precision, with how its kernels were built
    /// (compiled or taken from `kernelCache`): how the server and the command line alike set up a
    /// GPU. Throws the device's or the kernels' error.
    public static func backends(on loaded: GPUProbe.Loaded, weights: BertWeights, kernelCache: KernelCache,
                                precisions: [GPUPrecision]) throws -> [(backend: GPUBackend, build: KernelBuilder.Built)] {
        let device = try loaded.open(builder: KernelBuilder(cache: kernelCache))
        return try precisions.map { (try GPUBackend(weights: weights, device: device, precision: $0), device.kernelBuild) }
    }

    /// The error when `MCP_RAG_DEVICE` names a runtime that cannot serve.
    private static func cannotServe(_ runtime: GPURuntimeKind, because reason: String) -> String {
        "\(DevicePreference.environmentVariable)=\(runtime.rawValue), but \(runtime.displayName) cannot serve: \(reason); embeddings run on the CPU"
    }

    private func settle(_ update: (inout State) -> Void) {
        state.withLock { state in
            update(&state)
            state.settled = true
        }
    }
}
