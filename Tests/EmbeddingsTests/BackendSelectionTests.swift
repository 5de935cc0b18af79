import Foundation
import Synchronization
import Testing

@testable import Embeddings

/// A backend that answers from a function of the batch, or throws, as a test tells it.
private struct ScriptedBackend: EmbeddingBackend {
    let name: String
    var fail: (any Error)?
    var transform: @Sendable ([Float]) -> [Float] = { $0 }

    func embed(tokenized sequences: [[Int32]], work: EmbeddingWork) throws -> [[Float]] {
        if let fail { throw fail }
        return sequences.map { transform(ScriptedBackend.reference($0)) }
    }

    /// A unit vector that depends on the tokens, as the CPU would give.
    static func reference(_ tokens: [Int32]) -> [Float] {
        var vector = (0..<8).map { Float(($0 + 1) * Int(tokens.reduce(0, +) % 7 + 1)) }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        vector = vector.map { $0 / norm }
        return vector
    }
}

private struct DeviceLost: Error, CustomStringConvertible {
    var description: String { "cuLaunchKernel failed with cuda error 719: CUDA_ERROR_LAUNCH_FAILED" }
}

@Suite struct BackendSelectionTests {
    let batch: [[Int32]] = [[101, 7, 102], [101, 8, 9, 102], [101, 10, 102]]

    /// Seconds per backend name, instead of timing anything.
    func measure(_ seconds: [String: Double]) -> BackendSelector.Measure {
        { backend, batch in (try backend.embed(tokenized: batch), seconds[backend.name]!) }
    }

    @Test func aFasterCorrectGPUIsChosenWithItsSpeedup() {
        let choice = BackendSelector.choose(
            cpu: ScriptedBackend(name: "cpu"), candidates: [ScriptedBackend(name: "cuda", transform: { $0.map { $0 + 1e-6 } })],
            batch: batch, measure: measure(["cpu": 0.3, "cuda": 0.01]))
        #expect(choice.chosen.name == "cuda")
        #expect(choice.trials.map(\.backend) == ["cpu", "cuda"])
        #expect(choice.trials[1].correct && choice.trials[1].note == nil)
        #expect(choice.trials[0].note == "slower than cuda")
        #expect(abs(choice.trials[1].sentencesPerSecond! - 300) < 1e-9 && abs(choice.trials[0].sentencesPerSecond! - 10) < 1e-9)
        #expect((choice.trials[1].maxAbsDifference ?? 1) < 1e-5)
        #expect(choice.reason == "cuda serves: 30.0× the CPU's speed on the startup batch")
    }

    @Test func aFastGPUWhoseVectorsDisagreeIsNeverChosen() {
        // One component off by 0.05 in every vector: fast, and wrong.
        let wrong = ScriptedBackend(name: "hip", transform: { vector in
            var changed = vector
            changed[0] += 0.05
            return changed
        })
        let choice = BackendSelector.choose(cpu: ScriptedBackend(name: "cpu"), candidates: [wrong], batch: batch,
                                            measure: measure(["cpu": 1, "hip": 0.001]))
        #expect(choice.chosen.name == "cpu")
        #expect(!choice.trials[1].correct)
        #expect(choice.trials[1].note?.hasPrefix("its vectors differ from the CPU's") == true, "\(choice.trials[1].note ?? "")")
        #expect(choice.reason == "the CPU serves: no GPU backend was both correct and faster")
    }

    @Test func nanVectorsFailTheGate() {
        let broken = ScriptedBackend(name: "cuda", transform: { $0.map { _ in .nan } })
        let choice = BackendSelector.choose(cpu: ScriptedBackend(name: "cpu"), candidates: [broken], batch: batch,
                                            measure: measure(["cpu": 1, "cuda": 0.001]))
        #expect(choice.chosen.name == "cpu" && !choice.trials[1].correct)
    }

    @Test func aSlowerCorrectGPULosesAndAFailingOneIsReported() {
        let choice = BackendSelector.choose(
            cpu: ScriptedBackend(name: "cpu"),
            candidates: [ScriptedBackend(name: "hip"), ScriptedBackend(name: "cuda", fail: DeviceLost())],
            batch: batch, measure: measure(["cpu": 0.1, "hip": 0.2, "cuda": 0.01]))
        #expect(choice.chosen.name == "cpu")
        #expect(choice.trials[1].correct && choice.trials[1].note == "slower than cpu")
        #expect(choice.trials[2].note == "it failed: cuLaunchKernel failed with cuda error 719: CUDA_ERROR_LAUNCH_FAILED")
    }

    @Test func vectorsOfTheWrongShapeAreRefused() {
        let short = ScriptedBackend(name: "cuda", transform: { Array($0.prefix(4)) })
        let choice = BackendSelector.choose(cpu: ScriptedBackend(name: "cpu"), candidates: [short], batch: batch,
                                            measure: measure(["cpu": 1, "cuda": 0.1]))
        #expect(choice.chosen.name == "cpu")
        #expect(choice.trials[1].note == "it returned 3 vectors of the wrong shape for 3 texts")
    }

    @Test func withoutCandidatesTheCPUServesAndSaysWhy() {
        let choice = BackendSelector.choose(cpu: ScriptedBackend(name: "cpu"), candidates: [], batch: batch,
                                            measure: measure(["cpu": 1]))
        #expect(choice.chosen.name == "cpu" && choice.reason == "the CPU serves: no GPU backend to compare")
    }
}

@Suite struct FailoverBackendTests {
    @Test func aGPUFaultMovesThatBatchAndEveryLaterOneToTheCPUOnce() throws {
        let failures = Mutex<[FailoverBackend.Failure]>([])
        let backend = FailoverBackend(primary: ScriptedBackend(name: "cuda", fail: DeviceLost()), fallback: ScriptedBackend(name: "cpu"),
                                      onFailure: { failure in failures.withLock { $0.append(failure) } })
        #expect(backend.name == "cuda" && backend.failed == nil)
        let vectors = try backend.embed(tokenized: [[101, 5, 102]])
        #expect(vectors == [ScriptedBackend.reference([101, 5, 102])], "the failing batch is answered by the CPU")
        _ = try backend.embed(tokenized: [[101, 6, 102]])
        #expect(backend.name == "cpu")
        #expect(backend.failed?.reason == "cuLaunchKernel failed with cuda error 719: CUDA_ERROR_LAUNCH_FAILED")
        #expect(failures.withLock { $0.count } == 1, "reported once, not per batch")
    }

    @Test func badInputIsNotAGPUFault() {
        let invalid = EmbeddingInputError(index: 0, problem: "no tokens (it needs at least [CLS] and [SEP])")
        let backend = FailoverBackend(primary: ScriptedBackend(name: "cuda", fail: invalid), fallback: ScriptedBackend(name: "cpu"))
        #expect(throws: invalid) { try backend.embed(tokenized: [[]]) }
        #expect(backend.failed == nil && backend.name == "cuda")
    }

    @Test func aHealthyGPUKeepsServing() throws {
        let backend = FailoverBackend(primary: ScriptedBackend(name: "cuda", transform: { $0.map { -$0 } }), fallback: ScriptedBackend(name: "cpu"))
        let vectors = try backend.embed(tokenized: [[101, 5, 102]])
        #expect(vectors[0] == ScriptedBackend.reference([101, 5, 102]).map { -$0 })
        #expect(backend.name == "cuda")
    }
}

/// A backend with lanes that records which lane each query pass ran in.
private final class LanedBackend: EmbeddingBackend, Sendable {
    let name = "cpu"
    let queryLanes = 2
    let lanesUsed = Mutex<[Int?]>([])

    func embed(tokenized sequences: [[Int32]], work: EmbeddingWork) throws -> [[Float]] {
        lanesUsed.withLock { $0.append(nil) }
        return sequences.map(ScriptedBackend.reference)
    }

    func embedQueries(tokenized sequences: [[Int32]], lane: Int) throws -> [[Float]] {
        lanesUsed.withLock { $0.append(lane) }
        return sequences.map(ScriptedBackend.reference)
    }
}

@Suite struct AcceleratedBackendTests {
    @Test func lanesAreTheServingBackendsAndALaneBeyondThemIsAnOrdinaryPass() throws {
        let cpu = LanedBackend()
        let accelerated = AcceleratedBackend(initial: cpu)
        #expect(accelerated.queryLanes == 2)
        _ = try accelerated.embedQueries(tokenized: [[101, 5, 102]], lane: 1)
        #expect(cpu.lanesUsed.withLock { $0 } == [1])
        // A GPU behind its failover has one lane; a caller that counted two before it came still
        // gets its vectors, through an ordinary pass.
        let gpu = FailoverBackend(primary: ScriptedBackend(name: "cuda", transform: { $0.map { -$0 } }), fallback: cpu)
        accelerated.install(gpu)
        #expect(accelerated.queryLanes == 1)
        let vectors = try accelerated.embedQueries(tokenized: [[101, 5, 102]], lane: 1)
        #expect(vectors[0] == ScriptedBackend.reference([101, 5, 102]).map { -$0 }, "the GPU computed it")
        #expect(cpu.lanesUsed.withLock { $0 } == [1])
    }

    @Test func aFailedGPUGivesTheCPUsLanesBack() throws {
        let cpu = LanedBackend()
        let gpu = FailoverBackend(primary: ScriptedBackend(name: "cuda", fail: DeviceLost()), fallback: cpu)
        #expect(gpu.queryLanes == 1)
        _ = try gpu.embedQueries(tokenized: [[101, 5, 102]], lane: 0)
        #expect(gpu.failed != nil && cpu.lanesUsed.withLock { $0 } == [nil], "the failed pass moved to the CPU")
        #expect(gpu.queryLanes == 2)
        _ = try gpu.embedQueries(tokenized: [[101, 5, 102]], lane: 1)
        #expect(cpu.lanesUsed.withLock { $0 } == [nil, 1])
    }
}

@Suite struct ParallelTokenizationTests {
    @Test func aLargeBatchTokenisedOnSeveralThreadsGivesTheSameIdsInOrder() throws {
        let embedder = try SentenceEmbedder(directory: try realModelDirectory(), threads: 1)
        let texts = try goldenCases().map(\.text) + (0..<57).map { "text number \($0) about café naïve résumé \(String(repeating: "x", count: $0))" }
        #expect(texts.count >= SentenceEmbedder.parallelTokenizationThreshold * 2)
        #expect(embedder.tokenizeAll(texts) == texts.map(embedder.tokenize))
        #expect(embedder.tokenizeAll(Array(texts.prefix(3))) == texts.prefix(3).map(embedder.tokenize))
    }
}
