import COpenBLAS
import Dispatch
import Foundation
import KnowledgeBase
import Logging
import SQLiteLedger
import Storage

/// How the embedded store's semantic search scales: stores of synthetic chunks of each size are
/// filled, reopened and searched, and the results checked against an exact float32 search.
///
/// The vectors are synthetic (unit vectors scattered around random topic centres, as embeddings of
/// related passages cluster), so no model is needed and a million chunks take minutes, not a day of
/// embedding; the latency is the store's alone (scan, rescoring, ranking), without the embedding of
/// the query. The passages are made-up words (`SyntheticWords`), so that a kept store also gives
/// keyword and hybrid search through the server realistic work.
public struct VectorSearchBenchmark: Sendable {
    public struct Point: Codable, Sendable {
        public var chunks: Int
        public var fillSeconds: Double
        /// Reopening the filled store as the fill left it: mapping its snapshot file and applying
        /// the journal entries after it (below the snapshot policy's minimum size there is no
        /// file, and every vector is read from SQLite).
        public var openSeconds: Double
        /// Opening it with no snapshot file: every vector read from SQLite and quantized (the file
        /// is then written in the background, not timed).
        public var coldOpenSeconds: Double
        /// Bytes the vectors take (int8 and 4-bit codes and per-row tables), in memory and mapped.
        public var vectorBytes: Int
        /// Of those, the mapped snapshot file's.
        public var mappedBytes: Int
        /// What the process's resident memory grew by from just before the reopening to after the
        /// reopened store had served every query: the store's own memory.
        public var storeResidentBytes: Int
        public var searchMsP50: Double
        public var searchMsP99: Double
        /// Share of the exact float32 top 10 that the store's search returns, over every query.
        public var recallAt10: Double
    }

    public let dimension: Int
    public let queries: Int
    public let topics = 2_000

    public init(dimension: Int = 384, queries: Int = 200) {
        self.dimension = dimension
        self.queries = queries
    }

    /// Measures one store of `chunks` synthetic chunks in a fresh file inside `folder`. With
    /// `keep`, the store stays there as a data folder's `knowledge.sqlite3` (with its snapshot
    /// file), for a server to be pointed at, beside `queries.json`: questions in its words.
    public func measure(chunks: Int, folder: URL, keep: Bool = false, logger: Logger) throws -> Point {
        let path = folder.appendingPathComponent(keep ? "knowledge.sqlite3" : "scale-\(chunks).sqlite3").path
        defer { if !keep { Self.removeStore(at: path) } }
        var generator = SplitMix(seed: UInt64(chunks))
        let centres = (0..<topics).map { _ in unitVector(&generator) }
        let words = SyntheticWords(topics: topics)
        // The exact search needs every vector; the benchmark keeps them, the store does not.
        var matrix = [Float](repeating: 0, count: chunks * dimension)
        let fillStart = DispatchTime.now().uptimeNanoseconds
        do {
            let store = try SQLiteKnowledgeStore(path: path, dimension: dimension, logger: logger)
            let perSource = 1_000
            for first in stride(from: 0, to: chunks, by: perSource) {
                let source = "synthetic/\(first / perSource).md"
                let records = (first..<min(chunks, first + perSource)).map { row -> ChunkRecord in
                    let topic = Int(generator.next() % UInt64(topics))
                    let vector = near(centres[topic], &generator)
                    matrix.replaceSubrange(row * dimension ..< (row + 1) * dimension, with: vector)
                    return ChunkRecord(id: String(format: "c%08d", row), source: source, heading: "", technology: "synthetic",
                                       text: words.passage(topic: topic, &generator), ordinal: row - first, vector: vector)
                }
                _ = try store.replaceSource(SourceRecord(source: source, technology: "synthetic", contentHash: "\(first)",
                                                         chunkCount: records.count, ingestedAt: Date()), chunks: records)
            }
            // As `mcp-rag ingest` does before it exits: a snapshot being written is finished.
            store.waitForSnapshot()
        }
        let fillSeconds = Self.seconds(since: fillStart)
        if keep {
            let questions = (0..<queries).map { words.question(topic: $0 % topics, &generator) }
            try JSONEncoder().encode(questions).write(to: folder.appendingPathComponent("queries.json"))
        }
        let coldOpenSeconds = try timeOpeningWithoutSnapshot(path: path, logger: logger)

        let residentBefore = ProcessStatistics.current().residentBytes
        let openStart = DispatchTime.now().uptimeNanoseconds
        let store = try SQLiteKnowledgeStore(path: path, dimension: dimension, logger: logger)
        let openSeconds = Self.seconds(since: openStart)
        var latencies: [Double] = []
        var found = 0
        for query in 0..<queries {
            let vector = near(centres[query % topics], &generator)
            let started = DispatchTime.now().uptimeNanoseconds
            let results = try store.semanticSearch(vector: vector, limit: 10, technology: nil)
            latencies.append(Self.seconds(since: started) * 1000)
            let exact = Set(exactTop10(matrix, rows: chunks, query: vector).map { String(format: "c%08d", $0) })
            found += results.filter { exact.contains($0.id) }.count
        }
        latencies.sort()
        return Point(chunks: chunks, fillSeconds: fillSeconds, openSeconds: openSeconds, coldOpenSeconds: coldOpenSeconds,
                     vectorBytes: store.vectorMemoryBytes, mappedBytes: store.vectorMappedBytes,
                     storeResidentBytes: ProcessStatistics.current().residentBytes - residentBefore,
                     searchMsP50: latencies[latencies.count / 2], searchMsP99: latencies[latencies.count * 99 / 100],
                     recallAt10: Double(found) / Double(10 * queries))
    }

    /// Opens the store at `path` from a copy of it without its snapshot file, timed; the copy
    /// writes its own file afterwards, and both go before this returns, so the store at `path`
    /// keeps the file the fill left.
    private func timeOpeningWithoutSnapshot(path: String, logger: Logger) throws -> Double {
        let copy = path + "-cold.sqlite3"
        defer { Self.removeStore(at: copy) }
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: path + suffix) {
            try FileManager.default.copyItem(atPath: path + suffix, toPath: copy + suffix)
        }
        let started = DispatchTime.now().uptimeNanoseconds
        let store = try SQLiteKnowledgeStore(path: copy, dimension: dimension, logger: logger)
        let seconds = Self.seconds(since: started)
        store.waitForSnapshot()
        return seconds
    }

    /// Deletes the store at `path` with its SQLite companions and its vector snapshot file.
    private static func removeStore(at path: String) {
        for suffix in ["", "-wal", "-shm", "-vectors"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// The rows of the 10 largest exact dot products (one sgemv over the float32 matrix).
    private func exactTop10(_ matrix: [Float], rows: Int, query: [Float]) -> [Int] {
        var scores = [Float](repeating: 0, count: rows)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(rows), Int32(dimension), 1, matrix, Int32(dimension),
                    query, 1, 0, &scores, 1)
        return Array(scores.indices.sorted { scores[$0] > scores[$1] }.prefix(10))
    }

    private func unitVector(_ generator: inout SplitMix) -> [Float] {
        normalized((0..<dimension).map { _ in generator.gaussian() })
    }

    /// A unit vector at a cosine of about 0.7 from `centre`: passages on one topic.
    private func near(_ centre: [Float], _ generator: inout SplitMix) -> [Float] {
        let noise = unitVector(&generator)
        return normalized(zip(centre, noise).map { $0 + $1 })
    }

    private func normalized(_ vector: [Float]) -> [Float] {
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return vector.map { $0 / norm }
    }

    static func seconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

/// Made-up words for the synthetic passages, so that keyword search has the work it has on real
/// text: each topic has words of its own, and every passage also draws from a common vocabulary by
/// Zipf's law (a few words everywhere, most rare), as natural language does.
struct SyntheticWords {
    static let vocabulary = 30_000
    static let wordsPerTopic = 40
    private static let syllables = ["ba", "ke", "li", "mo", "nu", "ra", "si", "to", "ve", "zu",
                                    "da", "fe", "gi", "ho", "ju", "la", "me", "no", "pi", "ru"]
    let topics: Int
    /// Cumulative Zipf weights of the common vocabulary's ranks, for drawing by binary search.
    private let cumulative: [Double]

    init(topics: Int) {
        self.topics = topics
        var total = 0.0
        cumulative = (1...Self.vocabulary).map { rank in
            total += 1 / Double(rank)
            return total
        }
    }

    /// 40 words: 10 of the topic's, 30 common ones.
    func passage(topic: Int, _ generator: inout SplitMix) -> String {
        let own = (0..<10).map { _ in topicWord(topic, Int(generator.next() % UInt64(Self.wordsPerTopic))) }
        let common = (0..<30).map { _ in word(commonRank(&generator)) }
        return (own + common).joined(separator: " ")
    }

    /// A question as a user might type it: three of a topic's words and two common ones of middling
    /// frequency.
    func question(topic: Int, _ generator: inout SplitMix) -> String {
        let own = (0..<3).map { _ in topicWord(topic, Int(generator.next() % UInt64(Self.wordsPerTopic))) }
        let common = (0..<2).map { _ in word(50 + Int(generator.next() % 450)) }
        return "how does " + (own + common).joined(separator: " ") + " work"
    }

    /// The topic words sit after the common vocabulary, so the two never share a word.
    private func topicWord(_ topic: Int, _ index: Int) -> String {
        word(Self.vocabulary + topic * Self.wordsPerTopic + index)
    }

    private func commonRank(_ generator: inout SplitMix) -> Int {
        let target = Double(generator.next() >> 11) / Double(1 << 53) * cumulative[cumulative.count - 1]
        var low = 0, high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < target { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Word number `n`: its digits in base 20, one syllable each, at least three.
    private func word(_ n: Int) -> String {
        var digits: [Int] = []
        var rest = n
        repeat {
            digits.append(rest % Self.syllables.count)
            rest /= Self.syllables.count
        } while rest > 0 || digits.count < 3
        return digits.reversed().map { Self.syllables[$0] }.joined()
    }
}

/// A small seeded generator (SplitMix64), so every run measures the same stores.
struct SplitMix {
    private var state: UInt64

    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal value (Box–Muller).
    mutating func gaussian() -> Float {
        let u = (Double(next() >> 11) + 0.5) / Double(1 << 53)
        let v = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
    }
}
