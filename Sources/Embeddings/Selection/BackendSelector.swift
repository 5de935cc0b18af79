import Dispatch
import Foundation

/// The startup benchmark's decision: each backend run on the same fixed batch, each GPU result
/// checked against the CPU's, and the fastest backend whose vectors agree chosen.
public enum BackendSelector {
    /// What one backend did on the batch.
    public struct Trial: Sendable, Codable, Equatable {
        public var backend: String
        /// Texts per second on the batch (best of the timed runs); nil when it failed.
        public var sentencesPerSecond: Double?
        /// Largest difference of any component from the CPU's vector (both unit length); 0 for the CPU itself.
        public var maxAbsDifference: Double?
        /// Smallest cosine similarity of a vector with the CPU's.
        public var minCosine: Double?
        /// Whether the vectors agree with the CPU's closely enough to serve.
        public var correct: Bool
        /// Why it was not chosen, or its error; nil for the chosen one.
        public var note: String?
        /// Its index among the candidates `choose` was given; nil for the CPU. Not reported.
        public var candidate: Int? = nil

        enum CodingKeys: String, CodingKey {
            case backend, correct, note
            case sentencesPerSecond = "sentences_per_second"
            case maxAbsDifference = "max_abs_difference"
            case minCosine = "min_cosine"
        }
    }

    /// The chosen backend and every trial, the CPU's first.
    public struct Choice: Sendable {
        public var chosen: any EmbeddingBackend
        /// The chosen backend's index among the candidates; nil when the CPU serves.
        public var chosenCandidate: Int?
        public var trials: [Trial]
        /// One sentence on why.
        public var reason: String
    }

    /// Vectors closer than this to the CPU's serve: the bar the fp16 mode must clear too.
    public static let minimumCosine = 0.9999

    /// Runs `backend` on `batch`, returning its vectors and the seconds of the best timed run.
    public typealias Measure = @Sendable (_ backend: any EmbeddingBackend, _ batch: [[Int32]]) throws -> (vectors: [[Float]], seconds: Double)

    /// Chooses among `cpu` and `candidates` on `batch`. A candidate that throws, returns vectors
    /// of the wrong shape or disagrees with the CPU is reported and never chosen; among those
    /// that agree, the one with the most sentences per second wins (the CPU on a tie).
    public static func choose(cpu: any EmbeddingBackend, candidates: [any EmbeddingBackend], batch: [[Int32]],
                              measure: Measure = timed) -> Choice {
        let reference: (vectors: [[Float]], seconds: Double)
        do {
            reference = try measure(cpu, batch)
        } catch {
            let trial = Trial(backend: cpu.name, sentencesPerSecond: nil, maxAbsDifference: nil, minCosine: nil, correct: false,
                              note: "the CPU benchmark failed: \(error)")
            return Choice(chosen: cpu, chosenCandidate: nil, trials: [trial], reason: "the CPU serves; its benchmark failed (\(error))")
        }
        let count = Double(batch.count)
        var trials = [Trial(backend: cpu.name, sentencesPerSecond: count / reference.seconds, maxAbsDifference: 0, minCosine: 1,
                            correct: true, note: nil)]
        var best: (backend: any EmbeddingBackend, index: Int) = (cpu, 0)
        for (index, candidate) in candidates.enumerated() {
            var trial = Trial(backend: candidate.name, sentencesPerSecond: nil, maxAbsDifference: nil, minCosine: nil,
                              correct: false, note: nil, candidate: index)
            do {
                let result = try measure(candidate, batch)
                trial.sentencesPerSecond = count / result.seconds
                if let agreement = agreement(result.vectors, reference.vectors) {
                    trial.maxAbsDifference = agreement.maxAbsDifference
                    trial.minCosine = agreement.minCosine
                    trial.correct = agreement.minCosine >= minimumCosine && agreement.maxAbsDifference.isFinite
                    if !trial.correct {
                        trial.note = String(format: "its vectors differ from the CPU's (cosine %.6f, below %.4f)",
                                            agreement.minCosine, minimumCosine)
                    }
                } else {
                    trial.note = "it returned \(result.vectors.count) vectors of the wrong shape for \(batch.count) texts"
                }
            } catch {
                trial.note = "it failed: \(error)"
            }
            trials.append(trial)
            if trial.correct, let speed = trial.sentencesPerSecond, speed > trials[best.index].sentencesPerSecond ?? 0 {
                best = (candidate, trials.count - 1)
            }
        }
        for index in trials.indices where index != best.index && trials[index].note == nil {
            trials[index].note = "slower than \(best.backend.name)"
        }
        trials[best.index].note = nil
        let reason = best.index == 0
            ? (candidates.isEmpty ? "the CPU serves: no GPU backend to compare" : "the CPU serves: no GPU backend was both correct and faster")
            : String(format: "%@ serves: %.1f× the CPU's speed on the startup batch", best.backend.name,
                     (trials[best.index].sentencesPerSecond ?? 0) / (trials[0].sentencesPerSecond ?? 1))
        return Choice(chosen: best.backend, chosenCandidate: trials[best.index].candidate, trials: trials, reason: reason)
    }

    /// Largest component difference and smallest cosine between two sets of vectors, or nil when
    /// their shapes differ.
    static func agreement(_ vectors: [[Float]], _ reference: [[Float]]) -> (maxAbsDifference: Double, minCosine: Double)? {
        guard vectors.count == reference.count,
              zip(vectors, reference).allSatisfy({ $0.count == $1.count }) else { return nil }
        var maxDifference = 0.0, minCosine = 1.0
        for (vector, expected) in zip(vectors, reference) {
            var dot = 0.0, normA = 0.0, normB = 0.0
            for (a, b) in zip(vector, expected) {
                let (x, y) = (Double(a), Double(b))
                // NaN compares false, so it is caught explicitly: a NaN vector must never pass.
                maxDifference = x.isNaN ? .infinity : max(maxDifference, abs(x - y))
                dot += x * y
                normA += x * x
                normB += y * y
            }
            let cosine = normA > 0 && normB > 0 ? dot / (normA.squareRoot() * normB.squareRoot()) : 0
            minCosine = min(minCosine, cosine.isNaN ? -1 : cosine)
        }
        return (maxDifference, minCosine)
    }

    /// The real measurement: one warm-up run, then the best of three.
    public static let timed: Measure = { backend, batch in
        var vectors = try backend.embed(tokenized: batch)
        var best = Double.infinity
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            vectors = try backend.embed(tokenized: batch)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return (vectors, best)
    }
}
