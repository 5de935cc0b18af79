import Foundation
import GPURuntime
import Testing

@testable import Embeddings

/// The GPU encoder's orchestration on ``HostComputeDevice``: the same passes, shapes and kernel
/// launches a GPU runs, re-enacted on the CPU, must give the CPU encoder's vectors.
@Suite struct GPUBackendTests {
    @Test func theKernelSignaturesParseAndEveryEntryPointHasOne() {
        let signatures = HostComputeDevice.parseSignatures(EncoderKernels.source)
        #expect(Set(signatures.keys) == Set(EncoderKernels.functionNames))
        #expect(signatures["rag_add_bias"] == ["pointer", "pointer", "int32", "int64"])
        #expect(!signatures.values.joined().contains { $0.hasPrefix("unknown") })
    }

    @Test func theGoldenTextsMatchTheCPUEncoderAcrossPaddedPasses() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory(), threads: 2)
        let cases = Array(try goldenCases().prefix(24))
        let sequences = cases.map(\.inputIDs)
        let device = HostComputeDevice()
        // Small passes, so the batch is cut several times and each pass pads to its longest.
        let gpu = try GPUBackend(weights: embedder.weights, device: device, maxTokensPerPass: 300)
        let vectors = try gpu.embed(tokenized: sequences)
        let reference = try embedder.embedBlocking(tokenized: sequences)
        for (index, (vector, expected)) in zip(vectors, reference).enumerated() {
            #expect(cosine(vector, expected) >= 0.99999, "case \(index): cosine \(cosine(vector, expected))")
            #expect(maxAbsDifference(vector, expected) <= 1e-4, "case \(index)")
            #expect(cosine(vector, cases[index].embedding) >= 0.99999, "case \(index) against sentence-transformers")
        }
        #expect(device.launches.withLock { $0["rag_attention"] ?? 0 } >= 6 * 2, "more than one pass ran")
    }

    @Test("every pooling sentence-transformers defines, normalised or not, as the CPU encoder computes it",
          arguments: [PoolingMode.mean, .cls, .max, .meanSqrtLength, .weightedMean, .lastToken], [true, false])
    func everyPoolingMatchesTheCPUEncoder(_ pooling: PoolingMode, _ normalize: Bool) throws {
        let folder = try realModelDirectory()
        var configuration = try ModelConfiguration(directory: folder)
        configuration.pooling = pooling
        configuration.normalize = normalize
        let weights = try BertWeights(file: try SafeTensorsFile(path: folder.appendingPathComponent("model.safetensors").path),
                                      configuration: configuration)
        let sequences = Array(try goldenCases().prefix(12)).map(\.inputIDs)
        let device = HostComputeDevice()
        let vectors = try GPUBackend(weights: weights, device: device, maxTokensPerPass: 300).embed(tokenized: sequences)
        let reference = try CPUBackend(weights: weights, threads: 2).embed(tokenized: sequences, work: .passages)
        for (index, (vector, expected)) in zip(vectors, reference).enumerated() {
            let norms = (vector.reduce(0) { $0 + $1 * $1 }.squareRoot(), expected.reduce(0) { $0 + $1 * $1 }.squareRoot())
            #expect(cosine(vector, expected) >= 0.99999, "case \(index): cosine \(cosine(vector, expected))")
            #expect(abs(norms.0 - norms.1) <= 1e-4 * norms.1, "case \(index): lengths \(norms)")
        }
        #expect(device.launches.withLock { $0["rag_pool"] ?? 0 } >= 1)
    }

    @Test func queriesRunAPassEachSoTheirVectorsDoNotDependOnTheirBatch() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory(), threads: 2)
        let sequences = Array(try goldenCases().prefix(6)).map(\.inputIDs)
        let device = HostComputeDevice()
        let gpu = try GPUBackend(weights: embedder.weights, device: device)
        let alone = try sequences.map { try gpu.embed(tokenized: [$0], work: .queries)[0] }
        let attentionAlone = device.launches.withLock { $0["rag_attention"] ?? 0 }
        let together = try gpu.embed(tokenized: sequences, work: .queries)
        #expect(together == alone)
        // As many passes (each with one attention launch per layer) as when asked one by one.
        #expect(device.launches.withLock { $0["rag_attention"] ?? 0 } == 2 * attentionAlone)
    }

    @Test func theFP16ModeStaysWithinTheGateOfTheCPUsVectors() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory(), threads: 2)
        let sequences = try goldenCases().prefix(24).map(\.inputIDs)
        let device = HostComputeDevice()
        let gpu = try GPUBackend(weights: embedder.weights, device: device, precision: .fp16, maxTokensPerPass: 600)
        #expect(gpu.name == "cuda-fp16")
        let vectors = try gpu.embed(tokenized: sequences)
        let reference = try embedder.embedBlocking(tokenized: sequences)
        let cosines = zip(vectors, reference).map { cosine($0, $1) }
        #expect(cosines.min()! >= BackendSelector.minimumCosine, "fp16 cosines \(cosines.min()!)")
        #expect(zip(vectors, reference).contains { maxAbsDifference($0, $1) > 1e-5 }, "half precision must actually have been used")
        #expect(device.launches.withLock { $0["rag_to_half"] ?? 0 } > 0)
    }

    @Test func badInputIsRefusedBeforeAnyWork() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory(), threads: 1)
        let device = HostComputeDevice()
        let gpu = try GPUBackend(weights: embedder.weights, device: device)
        #expect(throws: EmbeddingInputError.self) { try gpu.embed(tokenized: [[101, 102], []]) }
        #expect(device.launches.withLock { $0.isEmpty })
    }

    @Test func theBackendFreesWhatItAllocated() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory(), threads: 1)
        let device = HostComputeDevice()
        do {
            let gpu = try GPUBackend(weights: embedder.weights, device: device)
            _ = try gpu.embed(tokenized: [[101, 7592, 102]])
            #expect(device.liveAllocations > 0)
        }
        #expect(device.liveAllocations == 0)
    }
}
